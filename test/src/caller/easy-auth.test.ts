import { describe, expect, it } from 'vitest';
import { createEasyAuthValidator } from '../../../src/caller/easy-auth.js';
import { AuthenticationError } from '../../../src/shared/errors.js';

const OBJECT_ID = 'http://schemas.microsoft.com/identity/claims/objectidentifier';

function principalHeader(claims: { typ: string; val: string }[], extra: Record<string, string> = {}) {
  const body = { auth_typ: 'aad', claims, name_typ: 'name', role_typ: 'roles', ...extra };
  return Buffer.from(JSON.stringify(body)).toString('base64');
}

describe('createEasyAuthValidator', () => {
  const validator = createEasyAuthValidator({ userClaim: 'oid' });

  it('reads an Entra principal: object id, issuer, roles and scopes', async () => {
    const headers = new Headers({
      'x-ms-client-principal': principalHeader([
        { typ: 'iss', val: 'https://login.microsoftonline.com/tenant/v2.0' },
        { typ: OBJECT_ID, val: 'oid-1' },
        { typ: 'roles', val: 'TokenAdmin' },
        { typ: 'roles', val: 'Guest' },
        { typ: 'http://schemas.microsoft.com/identity/claims/scope', val: 'user_impersonation Token.Issue' },
      ]),
      'x-ms-client-principal-idp': 'aad',
    });
    await expect(validator.authenticate(headers)).resolves.toEqual({
      issuer: 'https://login.microsoftonline.com/tenant/v2.0',
      userId: 'oid-1',
      roles: ['TokenAdmin', 'Guest'],
      scopes: ['user_impersonation', 'Token.Issue'],
      oid: 'oid-1',
      anonymous: false,
    });
  });

  // Security round 3, point 5: the v1 issuer, the v2 issuer and no `iss` gave one Entra user three identities.
  it('keys one Entra user (tenant and object id) the same whatever issuer form the principal carried', async () => {
    const tenant = '72f988bf-86f1-41af-91ab-2d7cd011db47';
    const forms = [
      [{ typ: 'iss', val: `https://sts.windows.net/${tenant}/` }],
      [{ typ: 'iss', val: `https://login.microsoftonline.com/${tenant}/v2.0` }],
      [{ typ: 'http://schemas.microsoft.com/identity/claims/tenantid', val: tenant }],
      [
        { typ: 'iss', val: `https://sts.windows.net/${tenant.toUpperCase()}/` },
        { typ: 'tid', val: tenant },
      ],
    ];
    const keys = new Set<string>();
    for (const claims of forms) {
      const headers = new Headers({
        'x-ms-client-principal': principalHeader([...claims, { typ: OBJECT_ID, val: 'oid-1' }]),
        'x-ms-client-principal-idp': 'aad',
      });
      const { issuer, userId } = await validator.authenticate(headers);
      keys.add(JSON.stringify([issuer, userId]));
    }
    // The key AUTH_ISSUERS' Entra template gives the same user: https://login.microsoftonline.com/{tenantid}/v2.0.
    expect([...keys]).toEqual([
      JSON.stringify([`https://login.microsoftonline.com/${tenant}/v2.0`, 'oid-1']),
    ]);
  });

  it('refuses an Entra principal whose issuer names another tenant than its tid', async () => {
    const headers = new Headers({
      'x-ms-client-principal': principalHeader([
        { typ: 'iss', val: 'https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111/v2.0' },
        { typ: 'tid', val: '22222222-2222-2222-2222-222222222222' },
        { typ: OBJECT_ID, val: 'oid-1' },
      ]),
    });
    await expect(validator.authenticate(headers)).rejects.toMatchObject({ reason: 'issuer_tenant_mismatch' });
  });

  it('keeps a non-Entra issuer as it is, even with a tid (Azure AD B2C)', async () => {
    const b2c = 'https://contoso.b2clogin.com/33333333-3333-3333-3333-333333333333/v2.0/';
    const headers = new Headers({
      'x-ms-client-principal': principalHeader([
        { typ: 'iss', val: b2c },
        { typ: 'tid', val: '33333333-3333-3333-3333-333333333333' },
        { typ: OBJECT_ID, val: 'oid-1' },
      ]),
    });
    await expect(validator.authenticate(headers)).resolves.toMatchObject({ issuer: b2c });
  });

  it('falls back on the identity provider for the issuer and reads a configured claim', async () => {
    const github = createEasyAuthValidator({
      userClaim: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier',
    });
    const headers = new Headers({
      'x-ms-client-principal': principalHeader([
        { typ: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier', val: '12345' },
      ]),
      'x-ms-client-principal-idp': 'github',
    });
    await expect(github.authenticate(headers)).resolves.toMatchObject({ issuer: 'github', userId: '12345' });
  });

  it('refuses a missing, malformed or incomplete principal', async () => {
    const cases: [Headers, string, boolean][] = [
      [new Headers(), 'no_client_principal', false],
      [new Headers({ 'x-ms-client-principal': 'not base64 json' }), 'malformed_client_principal', true],
      [
        new Headers({ 'x-ms-client-principal': Buffer.from('{"claims": 5}').toString('base64') }),
        'malformed_client_principal',
        true,
      ],
      [
        new Headers({ 'x-ms-client-principal': principalHeader([{ typ: 'name', val: 'x' }]) }),
        'user_claim_missing',
        true,
      ],
    ];
    for (const [headers, reason, tokenSent] of cases) {
      const error = await validator.authenticate(headers).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AuthenticationError);
      expect(error).toMatchObject({ reason, tokenSent });
    }
  });

  it('refuses a blank user claim (only whitespace) and one over 1,024 characters, naming why', async () => {
    for (const [val, reason] of [
      [' \t ', 'user_claim_blank'],
      ['x'.repeat(1025), 'user_claim_too_long'],
    ] as const) {
      const headers = new Headers({
        'x-ms-client-principal': principalHeader([{ typ: 'oid', val }]),
        'x-ms-client-principal-idp': 'aad',
      });
      const error = await validator.authenticate(headers).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AuthenticationError);
      expect(error).toMatchObject({ reason, tokenSent: true });
    }
  });

  it("reads roles from Entra's `roles` claims, the WS-Fed role claim, or the type the principal names in role_typ", async () => {
    const headers = new Headers({
      'x-ms-client-principal': principalHeader(
        [
          { typ: 'iss', val: 'https://login.microsoftonline.com/tenant/v2.0' },
          { typ: OBJECT_ID, val: 'oid-2' },
          { typ: 'roles', val: 'Tokens.Admin' },
          { typ: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role', val: 'member' },
          { typ: 'app_roles', val: 'guest' },
          { typ: 'groups', val: 'not-a-role' },
        ],
        { role_typ: 'app_roles' },
      ),
    });
    const principal = await validator.authenticate(headers);
    expect([...principal.roles].sort()).toEqual(['Tokens.Admin', 'guest', 'member']);
  });
});
