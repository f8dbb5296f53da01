/**
 * `npm run token:user` (scripts/user-token.ts) runs MSAL's real device code flow (@azure/msal-node). Entra cannot be
 * reached here, so MSAL's HTTP client is a stand-in that answers as the Microsoft identity platform documents it
 * (learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code: POST /{tenant}/oauth2/v2.0/devicecode with
 * client_id and scope, then POST /{tenant}/oauth2/v2.0/token with
 * the device code grant until the user signs in). A sign-in against a real tenant
 * was not run.
 */
import { UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { getUserToken, parseEnvValues } from '../../scripts/user-token.js';

const TENANT = '11111111-2222-3333-4444-555555555555';
const CLIENT_ID = '99999999-8888-7777-6666-555555555555';
const SCOPE = `api://${CLIENT_ID}/access_as_user`;
const LOGIN = 'https://login.microsoftonline.com';

function fakeEntra() {
  const posts: { url: string; body: URLSearchParams }[] = [];
  const accessToken = new UnsecuredJWT({ aud: CLIENT_ID, scp: 'access_as_user', tid: TENANT }).encode();
  // Entra answers the device code grant with an id token and client_info too (MSAL adds openid profile offline_access).
  const oid = '22222222-3333-4444-5555-666666666666';
  const idToken = new UnsecuredJWT({
    aud: CLIENT_ID,
    iss: `${LOGIN}/${TENANT}/v2.0`,
    tid: TENANT,
    oid,
    sub: 'user-subject',
    preferred_username: 'user@contoso.example',
  })
    .setIssuedAt()
    .setExpirationTime('1h')
    .encode();
  const clientInfo = Buffer.from(JSON.stringify({ uid: oid, utid: TENANT })).toString('base64url');
  const ok = <T>(body: unknown) => ({ status: 200, headers: {}, body: body as T });
  const networkClient = {
    async sendGetRequestAsync<T>(url: string) {
      if (url.includes('/discovery/instance')) {
        return ok<T>({
          tenant_discovery_endpoint: `${LOGIN}/${TENANT}/v2.0/.well-known/openid-configuration`,
          'api-version': '1.1',
          metadata: [
            {
              preferred_network: 'login.microsoftonline.com',
              preferred_cache: 'login.windows.net',
              aliases: ['login.microsoftonline.com', 'login.windows.net'],
            },
          ],
        });
      }
      if (url.includes('/.well-known/openid-configuration')) {
        return ok<T>({
          issuer: `${LOGIN}/${TENANT}/v2.0`,
          authorization_endpoint: `${LOGIN}/${TENANT}/oauth2/v2.0/authorize`,
          token_endpoint: `${LOGIN}/${TENANT}/oauth2/v2.0/token`,
          device_authorization_endpoint: `${LOGIN}/${TENANT}/oauth2/v2.0/devicecode`,
          end_session_endpoint: `${LOGIN}/${TENANT}/oauth2/v2.0/logout`,
          jwks_uri: `${LOGIN}/${TENANT}/discovery/v2.0/keys`,
        });
      }
      return { status: 404, headers: {}, body: {} as T };
    },
    async sendPostRequestAsync<T>(url: string, options?: { body?: string }) {
      const body = new URLSearchParams(options?.body ?? '');
      // MSAL adds its own query parameters (client-request-id...) to the endpoints.
      const endpoint = url.split('?')[0]!;
      posts.push({ url: endpoint, body });
      if (endpoint.endsWith('/oauth2/v2.0/devicecode')) {
        return ok<T>({
          user_code: 'ABCD-EFGH',
          device_code: 'device-code-1',
          verification_uri: 'https://microsoft.com/devicelogin',
          expires_in: 900,
          interval: 1,
          message: 'To sign in, open https://microsoft.com/devicelogin and enter the code ABCD-EFGH.',
        });
      }
      if (endpoint.endsWith('/oauth2/v2.0/token')) {
        return ok<T>({
          token_type: 'Bearer',
          scope: SCOPE,
          expires_in: 3600,
          ext_expires_in: 3600,
          access_token: accessToken,
          refresh_token: 'refresh-token',
          id_token: idToken,
          client_info: clientInfo,
        });
      }
      return { status: 404, headers: {}, body: { error: 'not_found' } as T };
    },
  };
  return { networkClient, posts, accessToken };
}

describe('npm run token:user', () => {
  it('signs in with the device code flow for the exposed scope and gives back the access token', async () => {
    const entra = fakeEntra();
    const shown: string[] = [];
    const token = await getUserToken({
      clientId: CLIENT_ID,
      tenantId: TENANT,
      scope: SCOPE,
      networkClient: entra.networkClient,
      showCode: (message) => shown.push(message),
    });
    expect(token).toBe(entra.accessToken);
    expect(shown).toEqual([expect.stringContaining('ABCD-EFGH')]);
    const [deviceCode, tokenRequest] = entra.posts;
    expect(deviceCode!.url).toBe(`${LOGIN}/${TENANT}/oauth2/v2.0/devicecode`);
    expect(deviceCode!.body.get('client_id')).toBe(CLIENT_ID);
    expect(deviceCode!.body.get('scope')?.split(' ')).toContain(SCOPE);
    expect(tokenRequest!.url).toBe(`${LOGIN}/${TENANT}/oauth2/v2.0/token`);
    // The platform documents urn:ietf:params:oauth:grant-type:device_code; MSAL sends the short form it also accepts.
    expect(tokenRequest!.body.get('grant_type')).toMatch(/device_code$/);
    expect(tokenRequest!.body.get('device_code')).toBe('device-code-1');
  });

  it('reads the registration from `azd env get-values` output', () => {
    expect(
      parseEnvValues(`ENTRA_API_CLIENT_ID="${CLIENT_ID}"\nENTRA_API_SCOPE="${SCOPE}"\nOTHER="a \\"b\\""\n`),
    ).toEqual({
      ENTRA_API_CLIENT_ID: CLIENT_ID,
      ENTRA_API_SCOPE: SCOPE,
      OTHER: 'a "b"',
    });
  });
});
