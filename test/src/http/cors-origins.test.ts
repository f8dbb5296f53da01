import { describe, expect, it } from 'vitest';
import { allowedOriginsSchema, platformAllowedOriginsSchema } from '../../../src/http/cors-origins.js';
import { loadSettings, SettingsError } from '../../../src/settings.js';

const baseEnv = {
  COMMUNICATION_SERVICES_CONNECTION_STRING: 'endpoint=http://127.0.0.1:1/;accesskey=a2V5',
  AUTH_ISSUER: 'http://127.0.0.1:2',
  AUTH_AUDIENCE: 'api://token-service',
};

const messages = (value: string) => {
  const result = allowedOriginsSchema.safeParse(value);
  return result.success ? [] : result.error.issues.map((issue) => issue.message);
};

describe('APP_CORS_ALLOWED_ORIGINS', () => {
  it('keeps exact origins in the form browsers send them', () => {
    expect(
      allowedOriginsSchema.parse(
        ' https://App.Example.com, https://example.org:8443,https://a.example:443,, ',
      ),
    ).toEqual(['https://app.example.com', 'https://example.org:8443', 'https://a.example']);
  });

  it('allows plain http for loopback origins only', () => {
    expect(
      allowedOriginsSchema.parse('http://localhost:5173,http://127.0.0.1:3000,http://[::1]:8080'),
    ).toEqual(['http://localhost:5173', 'http://127.0.0.1:3000', 'http://[::1]:8080']);
    expect(messages('http://app.example.com')).toEqual([
      'must list https origins (plain http is allowed for loopback origins only)',
    ]);
  });

  it('drops duplicates', () => {
    expect(allowedOriginsSchema.parse('https://a.example,https://A.example')).toEqual(['https://a.example']);
  });

  it('refuses wildcards: deny by default', () => {
    for (const value of ['*', 'https://*.example.com', 'https://a.example,*']) {
      expect(messages(value)).toEqual([
        'must list exact origins; wildcards (*) are refused (deny by default)',
      ]);
    }
  });

  it('refuses anything that is not a bare origin', () => {
    for (const value of [
      'https://a.example/',
      'https://a.example/app',
      'https://a.example?x=1',
      'https://a.example#top',
      'https://user:pass@a.example',
      'https:a.example',
    ]) {
      expect(messages(value), value).toEqual([
        'must list origins of the form scheme://host[:port], with no path, query or trailing slash',
      ]);
    }
    expect(messages('a.example')).toEqual(['must list origins of the form scheme://host[:port]']);
    expect(messages('ftp://a.example')).toEqual([
      'must list http(s) origins of the form scheme://host[:port]',
    ]);
  });

  it('names each kind of mistake once', () => {
    expect(messages('https://a.example/, https://b.example/')).toHaveLength(1);
  });
});

describe('APP_CORS_ALLOWED_ORIGINS in the settings', () => {
  it('defaults to no origin at all', () => {
    expect(loadSettings(baseEnv).cors.allowedOrigins).toEqual([]);
    expect(loadSettings({ ...baseEnv, APP_CORS_ALLOWED_ORIGINS: ' ' }).cors.allowedOrigins).toEqual([]);
  });

  it('is read from the environment', () => {
    const settings = loadSettings({
      ...baseEnv,
      APP_CORS_ALLOWED_ORIGINS: 'https://app.example.com,http://localhost:5173',
    });
    expect(settings.cors.allowedOrigins).toEqual(['https://app.example.com', 'http://localhost:5173']);
  });

  it('names the setting and the rule when an entry is bad, never the value', () => {
    const value = 'https://secret-partner.example/path';
    const error = (() => {
      try {
        loadSettings({ ...baseEnv, APP_CORS_ALLOWED_ORIGINS: value });
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(SettingsError);
    expect((error as SettingsError).settingNames).toEqual(['APP_CORS_ALLOWED_ORIGINS']);
    expect((error as SettingsError).message).toContain(
      'APP_CORS_ALLOWED_ORIGINS must list origins of the form',
    );
    expect((error as SettingsError).message).not.toContain('secret-partner');
  });
});

/**
 * The platform's variable, read as the Functions host reads it: a JSON array (Azure/azure-functions-host,
 * src/WebJobs.Script.WebHost/Configuration/HostCorsOptionsSetup.cs, JsonConvert.DeserializeObject<IEnumerable<string>>).
 */
describe('CORS_ALLOWED_ORIGINS, as the platform sets it', () => {
  it("starts the service normally with the JSON array the platform writes, and lists those origins as the platform's", () => {
    const settings = loadSettings({
      ...baseEnv,
      CORS_ALLOWED_ORIGINS: '["https://App.Example.com","https://portal.azure.com:443"]',
    });
    expect(settings.cors).toEqual({
      allowedOrigins: [],
      platformOrigins: ['https://app.example.com', 'https://portal.azure.com'],
    });
    expect(loadSettings({ ...baseEnv, CORS_ALLOWED_ORIGINS: '[]' }).cors.platformOrigins).toEqual([]);
    expect(loadSettings({ ...baseEnv, CORS_ALLOWED_ORIGINS: '["*"]' }).cors.platformOrigins).toEqual(['*']);
    expect(loadSettings(baseEnv).cors.platformOrigins).toEqual([]);
  });

  it('keeps both lists apart: the app answers its own, the platform its own', () => {
    const settings = loadSettings({
      ...baseEnv,
      CORS_ALLOWED_ORIGINS: '["https://portal.example.com"]',
      APP_CORS_ALLOWED_ORIGINS: 'http://localhost:5173',
    });
    expect(settings.cors).toEqual({
      allowedOrigins: ['http://localhost:5173'],
      platformOrigins: ['https://portal.example.com'],
    });
  });

  it("refuses a comma list there (the old name of the service's own setting), naming the new one", () => {
    for (const value of ['https://a.example,https://b.example', 'https://a.example', '{"a":1}', '[1]']) {
      expect(platformAllowedOriginsSchema.safeParse(value).success, value).toBe(false);
      const error = (() => {
        try {
          loadSettings({ ...baseEnv, CORS_ALLOWED_ORIGINS: value });
        } catch (caught) {
          return caught as SettingsError;
        }
      })();
      expect(error?.settingNames).toEqual(['CORS_ALLOWED_ORIGINS']);
      expect(error?.message).toContain('APP_CORS_ALLOWED_ORIGINS');
      expect(error?.message).not.toContain('a.example');
    }
  });
});
