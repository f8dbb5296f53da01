import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevClaims, type DevIssuer, startDevIssuer } from '../../dev/dev-issuer.js';
import { createCallerValidator } from '../../src/caller/index.js';
import { TENANT_PLACEHOLDER } from '../../src/caller/issuers.js';
import { loadSettings } from '../../src/settings.js';

const GUIDE = path.resolve(import.meta.dirname, '../../docs/identity-providers.md');
const ACS = 'endpoint=https://contoso.communication.azure.com/;accesskey=a2V5';

/** Each `### heading` of the guide's tested settings, with the `AUTH_ISSUERS` value in its json block. */
async function documentedExamples(): Promise<{ provider: string; value: string }[]> {
  const markdown = await readFile(GUIDE, 'utf8');
  return [...markdown.matchAll(/^### (.+)\n(?:(?!^### )[\s\S])*?^```json\n([\s\S]*?)^```$/gm)].map(
    (match) => ({
      provider: match[1]!.trim(),
      value: match[2]!,
    }),
  );
}

/**
 * The claims each provider's tokens carry besides `iss`, `aud`, `exp` and `iat` (from the pages the guide cites):
 * what makes a token "shaped like" that provider's. The user claim and roles claim are added from the entry itself.
 */
const PROVIDER_CLAIMS: Record<string, DevClaims> = {
  'Entra ID, one tenant': { ver: '2.0', tid: '5b8d2f3a-4c1e-4a7b-9d60-2e8f1c3a7b94', scp: 'Tokens.Issue' },
  'Entra ID, one tenant, v1.0 tokens': { ver: '1.0', tid: '5b8d2f3a-4c1e-4a7b-9d60-2e8f1c3a7b94' },
  'Entra ID, many tenants': { ver: '2.0' },
  'Entra External ID': { ver: '2.0', tid: '7e6d5c4b-3a29-4f18-8e07-d6c5b4a39281' },
  'Azure AD B2C': { ver: '1.0', tfp: 'B2C_1_signupsignin', tid: '9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d' },
  Auth0: { azp: 'spa-client-id', scope: 'openid profile' },
  'Firebase Authentication': {
    user_id: 'firebase-uid-1',
    auth_time: 1_700_000_000,
    firebase: { sign_in_provider: 'password', identities: {} },
  },
  'Amazon Cognito': { token_use: 'id', 'cognito:username': 'alice', email_verified: true },
  'Two providers at once': {},
};

describe('docs/identity-providers.md: tested settings', () => {
  let keys: DevIssuer;
  let examples: { provider: string; value: string }[];
  beforeAll(async () => {
    keys = await startDevIssuer();
    examples = await documentedExamples();
  });
  afterAll(() => keys.close());

  it('has an example for every provider the issue names', () => {
    expect(examples.map(({ provider }) => provider)).toEqual(Object.keys(PROVIDER_CLAIMS));
  });

  it('gives settings the real schema accepts, each as documented', () => {
    for (const { provider, value } of examples) {
      const settings = loadSettings({ COMMUNICATION_SERVICES_CONNECTION_STRING: ACS, AUTH_ISSUERS: value });
      expect(settings.auth.mode, provider).toBe('jwt');
    }
  });

  it('accepts tokens shaped like each provider’s and keys their users by the issuer as verified', async () => {
    for (const { provider, value } of examples) {
      const entries = JSON.parse(value) as { issuer: string; jwksUri?: string }[];
      // The provider's keys are this test's own, served as a JWKS over HTTP by the development provider.
      const local = entries.map((entry) => ({ ...entry, jwksUri: keys.jwksUri }));
      const settings = loadSettings({
        COMMUNICATION_SERVICES_CONNECTION_STRING: ACS,
        AUTH_ISSUERS: JSON.stringify(local),
      });
      if (settings.auth.mode !== 'jwt') throw new Error('expected jwt mode');
      const validator = createCallerValidator(settings.auth);
      for (const entry of settings.auth.issuers) {
        const tenant = entry.tenants === '*' ? undefined : entry.tenants?.[1];
        const issuer = tenant === undefined ? entry.issuer : entry.issuer.replace(TENANT_PLACEHOLDER, tenant);
        const claims: DevClaims = {
          ...PROVIDER_CLAIMS[provider],
          ...(tenant === undefined ? {} : { tid: tenant }),
          sub: `${provider} subject`,
          oid: `${provider} object id`,
          ...(entry.rolesClaim === undefined ? {} : { [entry.rolesClaim]: ['Tokens.Admin'] }),
        };
        const token = await keys.mint(claims, { issuer, audience: entry.audiences.at(-1)! });
        const caller = await validator.authenticate(new Headers({ authorization: `Bearer ${token}` }));
        expect(caller, provider).toMatchObject({
          issuer,
          userId: claims[entry.userClaim],
          roles: entry.rolesClaim === undefined ? [] : ['Tokens.Admin'],
        });
      }
    }
  });
});
