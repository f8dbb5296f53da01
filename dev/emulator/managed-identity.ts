import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorContext } from './context.js';
import type { EntraPrincipal } from './entra.js';
import { sendJson } from './http.js';

export const managedIdentityApiVersion = '2019-08-01';

/**
 * The App Service managed identity endpoint (IDENTITY_ENDPOINT / IDENTITY_HEADER protocol, api-version 2019-08-01)
 * that ManagedIdentityCredential and DefaultAzureCredential call: GET ?resource=...[&client_id=...] with the secret
 * in X-IDENTITY-HEADER. Errors use App Service's shape `{statusCode, message, correlationId}`.
 */
export async function handleManagedIdentityToken(
  ctx: Pick<EmulatorContext, 'managedIdentities' | 'entra' | 'clock'>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://emulator.invalid');
  const fail = (statusCode: number, message: string) =>
    sendJson(res, statusCode, { statusCode, message, correlationId: randomUUID() });

  if (req.method !== 'GET') return fail(405, 'Only GET is supported.');
  if (req.headers['x-identity-header'] !== ctx.managedIdentities.header) {
    return fail(401, 'The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.');
  }
  if (url.searchParams.get('api-version') !== managedIdentityApiVersion) {
    return fail(400, `The api-version must be '${managedIdentityApiVersion}'.`);
  }
  const resource = url.searchParams.get('resource');
  if (!resource) return fail(400, "The 'resource' query parameter is required.");
  if (
    url.searchParams.has('principal_id') ||
    url.searchParams.has('mi_res_id') ||
    url.searchParams.has('object_id')
  ) {
    return fail(
      400,
      'Only system-assigned identities and user-assigned identities by client_id are emulated.',
    );
  }
  const principal = selectIdentity(ctx, url.searchParams.get('client_id'));
  if (!principal) return fail(400, 'Unable to load the proper Managed Identity.');

  const { token, expiresOn } = await ctx.entra.mintManagedIdentityToken(principal, resource, ctx.clock());
  sendJson(res, 200, {
    access_token: token,
    expires_on: String(expiresOn),
    resource,
    token_type: 'Bearer',
    client_id: principal.appId,
  });
}

function selectIdentity(
  ctx: Pick<EmulatorContext, 'managedIdentities'>,
  clientId: string | null,
): EntraPrincipal | undefined {
  if (clientId === null) return ctx.managedIdentities.systemAssigned;
  return ctx.managedIdentities.userAssigned.get(clientId.toLowerCase());
}
