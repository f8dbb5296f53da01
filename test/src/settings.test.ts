import { describe, expect, it } from 'vitest';
import { loadSettings, SettingsError, settingsSchema } from '../../src/settings.js';

const ACS = 'endpoint=https://contoso.communication.azure.com/;accesskey=c2VjcmV0LWtleQ==';
const minimal = {
  COMMUNICATION_SERVICES_CONNECTION_STRING: ACS,
  AUTH_ISSUER: 'https://login.microsoftonline.com/tenant/v2.0',
  AUTH_AUDIENCE: 'api://token-service',
};

function errorOf(env: Record<string, string | undefined>): SettingsError {
  try {
    loadSettings(env);
  } catch (error) {
    if (error instanceof SettingsError) return error;
    throw error;
  }
  throw new Error('expected a SettingsError');
}

describe('loadSettings', () => {
  it('applies the documented defaults', () => {
    const settings = loadSettings(minimal);
    expect(settings.auth).toEqual({
      mode: 'jwt',
      issuers: [
        {
          issuer: minimal.AUTH_ISSUER,
          audiences: ['api://token-service'],
          jwksUri: undefined,
          userClaim: 'oid',
        },
      ],
      userClaim: 'oid',
      requiredScope: undefined,
    });
    expect(settings.tokens).toEqual({
      allowedScopes: ['chat', 'voip'],
      defaultScopes: ['chat', 'voip'],
      defaultExpiresInMinutes: 60,
      reuse: { enabled: true, maxEntries: 10_000 },
    });
    expect(settings.store).toEqual({ kind: 'memory' });
    expect(settings.acs).toEqual({ kind: 'connectionString', connectionString: ACS });
    expect(settings.requestTimeoutMs).toBe(10_000);
  });

  it('returns deeply frozen settings', () => {
    const settings = loadSettings(minimal);
    expect(Object.isFrozen(settings)).toBe(true);
    expect(Object.isFrozen(settings.tokens.allowedScopes)).toBe(true);
  });

  it('reads a comma list of audiences and scopes', () => {
    const settings = loadSettings({
      ...minimal,
      AUTH_AUDIENCE: 'api://a, b ,',
      TOKEN_ALLOWED_SCOPES: 'chat, voip,chat.join',
      TOKEN_DEFAULT_SCOPES: 'chat.join',
    });
    expect(settings.auth.mode === 'jwt' && settings.auth.issuers[0]?.audiences).toEqual(['api://a', 'b']);
    expect(settings.tokens.allowedScopes).toEqual(['chat', 'voip', 'chat.join']);
    expect(settings.tokens.defaultScopes).toEqual(['chat.join']);
  });

  it('defaults the store to table when a storage connection is configured, with AzureWebJobsStorage as fallback', () => {
    const settings = loadSettings({ ...minimal, AzureWebJobsStorage: 'UseDevelopmentStorage=true' });
    expect(settings.store).toEqual({
      kind: 'table',
      tableName: 'AcsIdentities',
      connection: { kind: 'connectionString', connectionString: 'UseDevelopmentStorage=true' },
    });
    const explicit = loadSettings({
      ...minimal,
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      IDENTITY_STORE: 'memory',
    });
    expect(explicit.store).toEqual({ kind: 'memory' });
  });

  it('uses a managed identity for the ACS endpoint and the store endpoint, selected by AZURE_CLIENT_ID', () => {
    const settings = loadSettings({
      AUTH_ISSUER: minimal.AUTH_ISSUER,
      AUTH_AUDIENCE: minimal.AUTH_AUDIENCE,
      COMMUNICATION_SERVICES_ENDPOINT: 'https://contoso.communication.azure.com/',
      IDENTITY_STORE_ENDPOINT: 'https://account.table.core.windows.net',
      AZURE_CLIENT_ID: '11111111-2222-3333-4444-555555555555',
    });
    expect(settings.acs).toEqual({
      kind: 'managedIdentity',
      endpoint: 'https://contoso.communication.azure.com/',
      clientId: '11111111-2222-3333-4444-555555555555',
    });
    expect(settings.store).toMatchObject({
      kind: 'table',
      connection: { kind: 'endpoint', clientId: '11111111-2222-3333-4444-555555555555' },
    });
  });

  it('treats empty values as unset', () => {
    expect(loadSettings({ ...minimal, AUTH_MODE: '', TOKEN_DEFAULT_EXPIRES_IN_MINUTES: ' ' }).auth.mode).toBe(
      'jwt',
    );
  });

  it('allows plain http only for loopback hosts', () => {
    expect(() =>
      loadSettings({
        ...minimal,
        COMMUNICATION_SERVICES_CONNECTION_STRING: 'endpoint=http://127.0.0.1:8871/;accesskey=a2V5',
      }),
    ).not.toThrow();
    expect(() => loadSettings({ ...minimal, AUTH_ISSUER: 'http://localhost:9000' })).not.toThrow();
    for (const [name, value] of [
      ['COMMUNICATION_SERVICES_CONNECTION_STRING', 'endpoint=http://contoso.example/;accesskey=a2V5'],
      ['AUTH_ISSUER', 'http://issuer.example'],
      ['AUTH_JWKS_URI', 'http://10.0.0.1/keys'],
      ['IDENTITY_STORE_CONNECTION_STRING', 'DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5'],
      ['IDENTITY_STORE_CONNECTION_STRING', 'AccountName=a;AccountKey=a2V5;TableEndpoint=http://a.example/'],
    ] as const) {
      expect(errorOf({ ...minimal, [name]: value }).settingNames).toEqual([name]);
    }
  });

  describe('AUTH_ISSUERS', () => {
    const entra = 'https://login.microsoftonline.com/{tenantid}/v2.0';
    const tenant = '5B8D2F3A-4C1E-4A7B-9D60-2E8F1C3A7B94';
    const issuers = (value: unknown) => ({
      COMMUNICATION_SERVICES_CONNECTION_STRING: ACS,
      AUTH_ISSUERS: JSON.stringify(value),
    });

    it('gives each issuer its audiences, claims and tenants; AUTH_USER_CLAIM is the default user claim', () => {
      const settings = loadSettings({
        ...issuers([
          {
            issuer: 'https://contoso.eu.auth0.com/',
            audience: 'https://tokens.contoso.com',
            userClaim: 'sub',
          },
          { issuer: entra, audience: ['a', 'b', 'a'], tenants: [tenant], rolesClaim: 'groups' },
        ]),
        AUTH_USER_CLAIM: 'upn',
      });
      expect(settings.auth.mode === 'jwt' && settings.auth.issuers).toEqual([
        {
          issuer: 'https://contoso.eu.auth0.com/',
          audiences: ['https://tokens.contoso.com'],
          userClaim: 'sub',
        },
        {
          issuer: entra,
          audiences: ['a', 'b'],
          tenants: [tenant.toLowerCase()],
          rolesClaim: 'groups',
          userClaim: 'upn',
        },
      ]);
    });

    it('names a bad entry by its index and field', () => {
      const plain = { issuer: 'https://a.example/', audience: 'x' };
      const cases: [unknown, string][] = [
        [[plain, { issuer: entra, audience: 'x' }], 'AUTH_ISSUERS[1].tenants'],
        [[plain, { issuer: entra, audience: 'x', tenants: ['contoso'] }], 'AUTH_ISSUERS[1].tenants[0]'],
        [[{ ...plain, tenants: [tenant] }], 'AUTH_ISSUERS[0].tenants'],
        [[{ issuer: entra, audience: 'x', tenants: ['*', tenant] }], 'AUTH_ISSUERS[0].tenants'],
        [[plain, { issuer: 'http://issuer.example/', audience: 'x' }], 'AUTH_ISSUERS[1].issuer'],
        [
          [{ issuer: 'https://a.example/{tenantid}/{tenantid}', audience: 'x', tenants: ['*'] }],
          'AUTH_ISSUERS[0].issuer',
        ],
        [
          [{ issuer: 'https://{tenantid}.example/', audience: 'x', tenants: ['*'] }],
          'AUTH_ISSUERS[0].issuer',
        ],
        [[plain, { issuer: 'https://b.example/', audience: [] }], 'AUTH_ISSUERS[1].audience'],
        [[plain, { issuer: 'https://b.example/', audience: 5 }], 'AUTH_ISSUERS[1].audience'],
        [
          [plain, { issuer: 'https://b.example/', audience: 'x', jwksUri: 'http://keys.example/' }],
          'AUTH_ISSUERS[1].jwksUri',
        ],
        [[plain, plain], 'AUTH_ISSUERS[1].issuer'],
        [[{ audience: 'x' }], 'AUTH_ISSUERS[0].issuer'],
        [[{ ...plain, extra: true }], 'AUTH_ISSUERS[0]'],
        [[], 'AUTH_ISSUERS'],
        [{ issuer: 'https://a.example/' }, 'AUTH_ISSUERS'],
      ];
      for (const [value, setting] of cases) {
        const error = errorOf(issuers(value));
        expect(error.settingNames, JSON.stringify(value)).toEqual([setting]);
      }
      expect(errorOf({ ...issuers([]), AUTH_ISSUERS: '[{' }).message).toBe(
        'Invalid settings: AUTH_ISSUERS is not valid JSON (it must be a JSON array of issuers)',
      );
    });

    it('refuses both forms together, naming both', () => {
      const error = errorOf({
        ...minimal,
        AUTH_ISSUERS: JSON.stringify([{ issuer: 'https://a.example/', audience: 'x' }]),
      });
      expect([...error.settingNames].sort()).toEqual(['AUTH_AUDIENCE', 'AUTH_ISSUER', 'AUTH_ISSUERS']);
    });
  });

  it('denies by default: no issuer in jwt mode, easyauth without platform authentication', () => {
    const missing = errorOf({ COMMUNICATION_SERVICES_CONNECTION_STRING: ACS });
    expect(missing.settingNames).toEqual(['AUTH_ISSUER', 'AUTH_AUDIENCE']);
    expect(missing.message).toContain('AUTH_ISSUER is required when AUTH_MODE is jwt');

    expect(
      errorOf({ COMMUNICATION_SERVICES_CONNECTION_STRING: ACS, AUTH_MODE: 'easyauth' }).settingNames,
    ).toEqual(['AUTH_MODE']);
    const easyAuth = loadSettings({
      COMMUNICATION_SERVICES_CONNECTION_STRING: ACS,
      AUTH_MODE: 'easyauth',
      WEBSITE_AUTH_ENABLED: 'True',
    });
    expect(easyAuth.auth.mode).toBe('easyauth');
  });

  it('allows anonymous mode only when chosen explicitly', () => {
    expect(
      loadSettings({ COMMUNICATION_SERVICES_CONNECTION_STRING: ACS, AUTH_MODE: 'anonymous' }).auth,
    ).toEqual({
      mode: 'anonymous',
    });
  });

  it('requires an ACS setting, and only one', () => {
    expect(errorOf({ ...minimal, COMMUNICATION_SERVICES_CONNECTION_STRING: undefined }).settingNames).toEqual(
      ['COMMUNICATION_SERVICES_CONNECTION_STRING'],
    );
    expect(
      errorOf({ ...minimal, COMMUNICATION_SERVICES_ENDPOINT: 'https://contoso.communication.azure.com/' })
        .settingNames,
    ).toEqual(['COMMUNICATION_SERVICES_ENDPOINT']);
  });

  it('checks scopes, expiry, table name and the store choice', () => {
    expect(errorOf({ ...minimal, TOKEN_ALLOWED_SCOPES: 'chat,teleport' }).settingNames).toEqual([
      'TOKEN_ALLOWED_SCOPES',
    ]);
    expect(errorOf({ ...minimal, TOKEN_DEFAULT_SCOPES: 'voip.join' }).settingNames).toEqual([
      'TOKEN_DEFAULT_SCOPES',
    ]);
    for (const value of ['59', '1441', '60.5', 'sixty']) {
      expect(errorOf({ ...minimal, TOKEN_DEFAULT_EXPIRES_IN_MINUTES: value }).settingNames).toEqual([
        'TOKEN_DEFAULT_EXPIRES_IN_MINUTES',
      ]);
    }
    expect(errorOf({ ...minimal, IDENTITY_TABLE_NAME: 'no-dashes' }).settingNames).toEqual([
      'IDENTITY_TABLE_NAME',
    ]);
    expect(errorOf({ ...minimal, IDENTITY_STORE: 'table' }).settingNames).toEqual(['IDENTITY_STORE']);
    expect(errorOf({ ...minimal, IDENTITY_STORE: 'cosmos' }).message).toContain(
      'IDENTITY_STORE must be one of: table, memory',
    );
    expect(errorOf({ ...minimal, WEBSITE_AUTH_ENABLED: 'yes' }).settingNames).toEqual([
      'WEBSITE_AUTH_ENABLED',
    ]);
  });

  // The Functions host reads WEBSITE_AUTH_ENABLED with Convert.ToBoolean (azure-functions-host,
  // src/WebJobs.Script.WebHost/Configuration/HostEasyAuthOptionsSetup.cs), which takes "true"/"false" in any case,
  // white space around ignored, and throws on anything else: the app must not read a value the host refuses.
  it('reads WEBSITE_AUTH_ENABLED as the Functions host does: true or false only (issue 19, point 9)', () => {
    const easyAuth = (value: string) =>
      loadSettings({ ...minimal, AUTH_MODE: 'easyauth', WEBSITE_AUTH_ENABLED: value }).auth.mode;
    for (const value of ['true', 'True', 'TRUE', ' true ', '\ttrue\n'])
      expect(easyAuth(value)).toBe('easyauth');
    for (const value of ['1', '0', 'yes', 'on', 't', 'true1']) {
      const error = errorOf({ ...minimal, WEBSITE_AUTH_ENABLED: value });
      expect(error.settingNames, value).toEqual(['WEBSITE_AUTH_ENABLED']);
      expect(error.message).toContain('WEBSITE_AUTH_ENABLED must be true or false');
    }
    expect(
      errorOf({ ...minimal, AUTH_MODE: 'easyauth', WEBSITE_AUTH_ENABLED: 'False' }).settingNames,
    ).toContain('AUTH_MODE');
  });

  it('never puts a setting value in its message, whatever is wrong with it', () => {
    const secret = 'endpoint=http://evil.example/;accesskey=U0VDUkVULVZBTFVF';
    const env = Object.fromEntries(
      Object.keys(settingsSchema.shape).map((name) => [name, `${secret}-${name}`]),
    );
    const error = errorOf(env);
    expect(error.settingNames.length).toBeGreaterThan(10);
    for (const name of Object.keys(settingsSchema.shape)) {
      expect(error.message).not.toContain(`${secret}-${name}`);
    }
    expect(error.message).not.toContain('U0VDUkVULVZBTFVF');
    expect(error.message).not.toContain('evil.example');
  });

  it('names every setting it reads with its environment variable name', () => {
    expect(Object.keys(settingsSchema.shape)).toEqual(
      expect.arrayContaining([
        'COMMUNICATION_SERVICES_CONNECTION_STRING',
        'COMMUNICATION_SERVICES_ENDPOINT',
        'AZURE_CLIENT_ID',
        'AUTH_MODE',
        'AUTH_ISSUER',
        'AUTH_AUDIENCE',
        'AUTH_JWKS_URI',
        'AUTH_USER_CLAIM',
        'AUTH_REQUIRED_SCOPE',
        'WEBSITE_AUTH_ENABLED',
        'TOKEN_ALLOWED_SCOPES',
        'TOKEN_DEFAULT_SCOPES',
        'TOKEN_DEFAULT_EXPIRES_IN_MINUTES',
        'IDENTITY_STORE',
        'IDENTITY_STORE_CONNECTION_STRING',
        'AzureWebJobsStorage',
        'IDENTITY_STORE_ENDPOINT',
        'IDENTITY_TABLE_NAME',
        'REQUEST_TIMEOUT_MS',
      ]),
    );
  });
});
