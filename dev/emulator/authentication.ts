import type { IncomingMessage } from 'node:http';
import type { EmulatorContext } from './context.js';
import { verifyHmac } from './hmac.js';

export type AuthenticationVerdict = { ok: true } | { ok: false; message: string };

/** Authenticates an ACS API call the way the service does: an access key signature, or an Entra ID bearer token. */
export async function authenticate(
  ctx: EmulatorContext,
  req: IncomingMessage,
  body: Buffer,
): Promise<AuthenticationVerdict> {
  const authorization = req.headers.authorization ?? '';
  if (authorization.startsWith('Bearer ')) {
    if (!ctx.https) return { ok: false, message: 'Bearer tokens are only accepted over HTTPS.' };
    const principal = await ctx.entra.verifyAcsBearer(
      authorization.slice('Bearer '.length).trim(),
      ctx.clock(),
    );
    return principal
      ? { ok: true }
      : { ok: false, message: 'The bearer token is invalid, expired or not for this resource.' };
  }
  return verifyHmac(
    ctx.accessKey,
    { method: req.method ?? 'GET', pathAndQuery: req.url ?? '/', headers: req.headers, body },
    ctx.clock(),
  );
}
