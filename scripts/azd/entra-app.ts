/**
 * Registers (or updates) the Microsoft Entra application of one azd environment through Microsoft Graph v1.0:
 * the API callers get tokens for (identifier URI `api://<appId>`, the delegated scope `access_as_user`, v2.0 access
 * tokens), the admin app role, and the public client the token command and browser apps sign in with.
 *
 * Idempotent by construction: the application is addressed by its `uniqueName`, a client-provided alternate key, and
 * written with an upsert (`PATCH /applications(uniqueName='…')` with `Prefer: create-if-missing`: 201 the first
 * time, 204 afterwards), so a second `azd provision` updates the same application instead of adding one. The ids of
 * the scope and the role are fixed, so an update never replaces them (Graph refuses to remove an enabled scope).
 *
 * Request shapes, each from the Graph reference (learn.microsoft.com/graph/api/...):
 * - application-upsert: PATCH /applications(uniqueName='{uniqueName}'), Prefer: create-if-missing, body needs displayName.
 * - application-get: GET /applications(uniqueName='{uniqueName}')?$select=…
 * - application-update: PATCH /applications/{id} (identifierUris once the appId is known).
 * - serviceprincipal-get / serviceprincipal-post-serviceprincipals: GET /servicePrincipals(appId='{appId}'), else
 *   POST /servicePrincipals { appId } (users sign in to, and are assigned roles on, the service principal).
 * - Resource types: apiApplication (requestedAccessTokenVersion, oauth2PermissionScopes: permissionScope), appRole,
 *   spaApplication (redirectUris), application.isFallbackPublicClient (device code flow needs a public client).
 */

/** The delegated scope a signed-in user's token carries (`scp`); the service requires it (AUTH_REQUIRED_SCOPE). */
export const API_SCOPE = 'access_as_user';
/** The app role that may revoke or delete other users (AUTH_ADMIN_ROLE). */
export const ADMIN_ROLE = 'TokenService.Admin';
// Fixed ids: Graph keys scopes and roles by id, and refuses to drop an enabled one.
const SCOPE_ID = '6f8e3f43-2b0c-4b3f-9f0e-1d9a6c2b7a10';
const ADMIN_ROLE_ID = 'c1d3a7e2-5b4f-4e8a-9c6d-2f7b8a9e0d21';

export const GRAPH_URL = 'https://graph.microsoft.com/v1.0';

export interface EntraAppRequest {
  uniqueName: string;
  displayName: string;
  /** Browser apps' redirect URIs (exact origins or pages): the SPA platform of the registration. */
  spaRedirectUris: readonly string[];
}

export interface EntraApp {
  objectId: string;
  appId: string;
  identifierUri: string;
  /** The full scope a client asks for: `api://<appId>/access_as_user`. */
  scope: string;
}

type Fetch = typeof fetch;

export interface GraphOptions {
  token: string;
  graphUrl?: string;
  fetch?: Fetch;
}

class GraphError extends Error {
  override readonly name = 'GraphError';
}

function graphClient({ token, graphUrl = GRAPH_URL, fetch: send = fetch }: GraphOptions) {
  return async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; json: Record<string, unknown> | undefined }> => {
    const response = await send(`${graphUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    if (response.status === 404 && method === 'GET') return { status: 404, json };
    if (!response.ok) {
      // Graph's error code and message name the problem (e.g. Authorization_RequestDenied); no token is in them.
      const error = (json?.error ?? {}) as { code?: string; message?: string };
      throw new GraphError(
        `${method} ${path}: ${response.status} ${error.code ?? ''} ${error.message ?? ''}`,
      );
    }
    return { status: response.status, json };
  };
}

/** The application's writable properties this deployment owns; anything else set in the portal is left alone. */
export function applicationBody(request: EntraAppRequest) {
  return {
    displayName: request.displayName,
    signInAudience: 'AzureADMyOrg',
    // Device code flow (npm run token:user) signs in as a public client.
    isFallbackPublicClient: true,
    api: {
      requestedAccessTokenVersion: 2,
      oauth2PermissionScopes: [
        {
          id: SCOPE_ID,
          value: API_SCOPE,
          type: 'User',
          isEnabled: true,
          adminConsentDisplayName: 'Get Azure Communication Services tokens',
          adminConsentDescription:
            'Lets the app get ACS tokens for the signed-in user from the token service.',
          userConsentDisplayName: 'Get your Azure Communication Services tokens',
          userConsentDescription: 'Lets the app get ACS tokens for you from the token service.',
        },
      ],
    },
    appRoles: [
      {
        id: ADMIN_ROLE_ID,
        value: ADMIN_ROLE,
        displayName: 'Token service administrator',
        description: 'May revoke or delete other users of the token service.',
        allowedMemberTypes: ['User'],
        isEnabled: true,
      },
    ],
    spa: { redirectUris: [...request.spaRedirectUris] },
  };
}

const quoted = (value: string) => `'${value.replaceAll("'", "''")}'`;

/** Creates or updates the application and its service principal; returns what the service and clients need. */
export async function ensureEntraApp(request: EntraAppRequest, options: GraphOptions): Promise<EntraApp> {
  const graph = graphClient(options);
  const byUniqueName = `/applications(uniqueName=${quoted(request.uniqueName)})`;
  await graph('PATCH', byUniqueName, applicationBody(request), { prefer: 'create-if-missing' });

  const { json: app } = await graph('GET', `${byUniqueName}?$select=id,appId,identifierUris`);
  const objectId = String(app?.id ?? '');
  const appId = String(app?.appId ?? '');
  if (!objectId || !appId) throw new GraphError(`GET ${byUniqueName}: no id or appId in the answer`);

  // The identifier URI names the appId, known only once the application exists.
  const identifierUri = `api://${appId}`;
  const identifierUris = (app?.identifierUris as string[] | undefined) ?? [];
  if (!identifierUris.includes(identifierUri)) {
    await graph('PATCH', `/applications/${objectId}`, { identifierUris: [identifierUri] });
  }

  const servicePrincipal = await graph('GET', `/servicePrincipals(appId=${quoted(appId)})?$select=id`);
  if (servicePrincipal.status === 404) await graph('POST', '/servicePrincipals', { appId });

  return { objectId, appId, identifierUri, scope: `${identifierUri}/${API_SCOPE}` };
}
