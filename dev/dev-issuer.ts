import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose';
import { z } from 'zod';
import { isLoopbackHost, LOOPBACK_HOST_REQUIRED } from './loopback-host.js';

/**
 * A local OpenID provider for development and tests: discovery, a JWKS, and `POST /token` to get a user's token
 * with one curl. It signs whatever it is asked to, so it must never be reachable from a deployed app.
 */

export interface DevIssuerOptions {
  port?: number;
  host?: string;
  audience?: string;
}

export interface DevClaims extends JWTPayload {
  oid?: string;
  roles?: string[];
  scp?: string;
  name?: string;
}

export interface MintOptions {
  /** Lifetime from now; negative values mint an already expired token. Default 3600. */
  expiresInSeconds?: number;
  /** `nbf`: epoch seconds, a Date, or a jose time span such as '5m'. */
  notBefore?: number | string | Date;
  audience?: string | string[];
  issuer?: string;
  /** Signs with this published key; a kid that is not published goes into the header of a current-key signature. */
  kid?: string;
}

export interface DevIssuer {
  /** `http://HOST:PORT`, the `iss` of every token minted. */
  issuer: string;
  jwksUri: string;
  audience: string;
  mint(claims: DevClaims, opts?: MintOptions): Promise<string>;
  /** Publishes a new key and signs with it from now on; older keys stay published so their tokens still verify. */
  rotateKey(): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_DEV_AUDIENCE = 'api://acs-token-service';
const DEFAULT_TOKEN_SECONDS = 3600;
const MAX_BODY_BYTES = 16 * 1024;

/** Fixed namespaces make a user name's ids the same on every run and machine. */
const OID_NAMESPACE = '6f1c5a3e-2b8d-4c71-9e0a-5d3b7f2c1a94';
const SUB_NAMESPACE = 'a4e9d2c7-81b3-4f60-b5d8-0c2e6a9f4b17';

const tokenRequestSchema = z.strictObject({
  user: z.string().trim().min(1).max(128),
  roles: z.array(z.string().trim().min(1).max(128)).max(50).optional(),
  /** Space-separated delegated scopes, as Entra puts them in `scp`. */
  scp: z.string().trim().min(1).max(1024).optional(),
});
type TokenRequest = z.infer<typeof tokenRequestSchema>;

/**
 * The `oid` and `sub` a user name always gets: name-based (version 5) UUIDs, distinct from each other as in Entra,
 * so a service reading the wrong claim is caught.
 */
export function devUserIds(user: string): { oid: string; sub: string } {
  return { oid: nameBasedUuid(OID_NAMESPACE, user), sub: nameBasedUuid(SUB_NAMESPACE, user) };
}

/** The claims `POST /token` puts in a user's token. */
export function devUserClaims(request: TokenRequest): DevClaims {
  return {
    ...devUserIds(request.user),
    name: request.user,
    ...(request.roles && { roles: request.roles }),
    ...(request.scp && { scp: request.scp }),
  };
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function startDevIssuer(opts: DevIssuerOptions = {}): Promise<DevIssuer> {
  const host = opts.host ?? '127.0.0.1';
  const audience = opts.audience ?? DEFAULT_DEV_AUDIENCE;
  const keys: SigningKey[] = [await newSigningKey()];
  const currentKey = () => keys.at(-1)!;

  const server = createServer((request, response) => {
    route(request, response).catch(() => {
      if (!response.headersSent) sendJson(response, 500, { error: 'server_error' });
      else response.destroy();
    });
  });
  server.listen(opts.port ?? 0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const jwksUri = `${issuer}/keys`;
  const tokenEndpoint = `${issuer}/token`;

  async function mint(claims: DevClaims, mintOpts: MintOptions = {}): Promise<string> {
    const signer = keys.find((key) => key.kid === mintOpts.kid) ?? currentKey();
    const now = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: mintOpts.kid ?? signer.kid })
      .setIssuer(mintOpts.issuer ?? issuer)
      .setAudience(mintOpts.audience ?? audience)
      .setIssuedAt(now)
      .setExpirationTime(now + (mintOpts.expiresInSeconds ?? DEFAULT_TOKEN_SECONDS));
    if (mintOpts.notBefore !== undefined) jwt.setNotBefore(mintOpts.notBefore);
    return jwt.sign(signer.privateKey);
  }

  async function route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    // It signs whatever it is asked to: a page on another site must not reach it by DNS rebinding.
    if (!isLoopbackHost(request.headers.host)) {
      return sendJson(response, 400, { error: 'invalid_host', error_description: LOOPBACK_HOST_REQUIRED });
    }
    const { pathname } = new URL(request.url ?? '/', issuer);
    const handlers: Record<string, { method: string; handle: () => Promise<void> | void }> = {
      '/.well-known/openid-configuration': {
        method: 'GET',
        handle: () =>
          sendJson(response, 200, {
            issuer,
            jwks_uri: jwksUri,
            token_endpoint: tokenEndpoint,
            response_types_supported: ['token'],
            subject_types_supported: ['public'],
            id_token_signing_alg_values_supported: ['RS256'],
            token_endpoint_auth_methods_supported: ['none'],
            claims_supported: ['iss', 'aud', 'exp', 'nbf', 'iat', 'sub', 'oid', 'name', 'roles', 'scp'],
          }),
      },
      '/keys': {
        method: 'GET',
        handle: () => sendJson(response, 200, { keys: keys.map((key) => key.publicJwk) }),
      },
      '/token': { method: 'POST', handle: () => issueUserToken(request, response) },
    };
    const handler = handlers[pathname];
    if (!handler)
      return sendJson(response, 404, { error: 'not_found', error_description: 'No such endpoint' });
    if (request.method !== handler.method) {
      response.setHeader('Allow', handler.method);
      return sendJson(response, 405, {
        error: 'method_not_allowed',
        error_description: `Use ${handler.method}`,
      });
    }
    await handler.handle();
  }

  async function issueUserToken(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readTokenRequest(request);
    if ('error' in body) return sendJson(response, body.status, body.error);
    const parsed = tokenRequestSchema.safeParse(body.value);
    if (!parsed.success) {
      return sendJson(response, 400, {
        error: 'invalid_request',
        error_description: z.prettifyError(parsed.error),
        fields: parsed.error.issues.map((issue) => ({ field: issue.path.join('.'), message: issue.message })),
      });
    }
    const accessToken = await mint(devUserClaims(parsed.data));
    response.setHeader('Cache-Control', 'no-store');
    sendJson(response, 200, {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: DEFAULT_TOKEN_SECONDS,
    });
  }

  return {
    issuer,
    jwksUri,
    audience,
    mint,
    async rotateKey() {
      keys.push(await newSigningKey());
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

type BodyResult =
  | { value: unknown }
  | { status: number; error: { error: string; error_description: string } };

/** The `/token` body as JSON or as a form (`roles` repeated or comma-separated), or the 4xx to answer. */
async function readTokenRequest(request: IncomingMessage): Promise<BodyResult> {
  const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType !== 'application/json' && mediaType !== 'application/x-www-form-urlencoded') {
    return invalid(
      415,
      'unsupported_media_type',
      'Send application/json or application/x-www-form-urlencoded',
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  // Read to the end even past the limit: leaving the loop early would destroy the socket before the 413 is sent.
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  if (size > MAX_BODY_BYTES)
    return invalid(413, 'payload_too_large', `The body exceeds ${MAX_BODY_BYTES} bytes`);
  const text = Buffer.concat(chunks).toString('utf8');
  if (mediaType === 'application/x-www-form-urlencoded')
    return { value: formToObject(new URLSearchParams(text)) };
  try {
    return { value: JSON.parse(text) };
  } catch {
    return invalid(400, 'invalid_request', 'The body is not valid JSON');
  }
}

function invalid(status: number, error: string, description: string): BodyResult {
  return { status, error: { error, error_description: description } };
}

function formToObject(form: URLSearchParams): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const key of new Set(form.keys())) {
    const values = form.getAll(key);
    fields[key] =
      key === 'roles'
        ? values
            .flatMap((value) => value.split(','))
            .map((role) => role.trim())
            .filter(Boolean)
        : values.length === 1
          ? values[0]
          : values;
  }
  return fields;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

async function newSigningKey(): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateKey, publicJwk: { ...jwk, kid, alg: 'RS256', use: 'sig' } };
}

/** An RFC 9562 version 5 UUID: SHA-1 of the namespace and the name, with the version and variant bits set. */
function nameBasedUuid(namespace: string, name: string): string {
  const bytes = createHash('sha1')
    .update(Buffer.from(namespace.replaceAll('-', ''), 'hex'))
    .update(name, 'utf8')
    .digest()
    .subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
