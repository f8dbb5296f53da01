import { describe, expect, it } from 'vitest';
import { loadSettings, SettingsError } from '../../../src/settings.js';
import {
  decideScopes,
  grantableScopes,
  type ScopePolicy,
  scopesByRoleSchema,
} from '../../../src/tokens/scope-policy.js';

const policy: ScopePolicy = {
  allowedScopes: ['chat', 'voip', 'chat.join.limited'],
  defaultScopes: ['chat', 'voip'],
  scopesByRole: { guest: ['chat.join.limited'], member: ['chat', 'voip.join'], '*': ['chat'] },
};

describe('grantableScopes', () => {
  it('is every allowed scope when no roles are configured', () => {
    expect(grantableScopes({ ...policy, scopesByRole: undefined }, [])).toEqual([
      'chat',
      'voip',
      'chat.join.limited',
    ]);
  });

  it('is the union over the caller’s roles and "*", within the allowed scopes', () => {
    expect(grantableScopes(policy, [])).toEqual(['chat']);
    expect(grantableScopes(policy, ['guest'])).toEqual(['chat', 'chat.join.limited']);
    // voip.join is configured for members but not allowed by TOKEN_ALLOWED_SCOPES.
    expect(grantableScopes(policy, ['member', 'unknown-role'])).toEqual(['chat']);
  });

  it('does not mistake inherited object properties for roles', () => {
    expect(
      grantableScopes({ ...policy, scopesByRole: { guest: ['chat'] } }, ['constructor', 'toString']),
    ).toEqual([]);
  });
});

describe('decideScopes', () => {
  const guestOnly: ScopePolicy = { ...policy, scopesByRole: { guest: ['chat.join.limited'] } };

  it('grants what was asked when every scope is grantable, refuses the rest by name', () => {
    expect(decideScopes(policy, ['guest'], ['chat.join.limited'])).toEqual({
      granted: true,
      scopes: ['chat.join.limited'],
    });
    expect(decideScopes(policy, ['guest'], ['chat', 'voip'])).toEqual({ granted: false, refused: ['voip'] });
  });

  it('intersects the defaults with what the caller may have', () => {
    expect(decideScopes(policy, [], undefined)).toEqual({ granted: true, scopes: ['chat'] });
    expect(decideScopes({ ...policy, scopesByRole: undefined }, [], undefined)).toEqual({
      granted: true,
      scopes: ['chat', 'voip'],
    });
  });

  it('gives a guest none of whose scopes are defaults its own allowed scopes', () => {
    expect(decideScopes(guestOnly, ['guest'], undefined)).toEqual({
      granted: true,
      scopes: ['chat.join.limited'],
    });
  });

  it('refuses a caller whose roles allow nothing', () => {
    expect(decideScopes(guestOnly, [], undefined)).toEqual({ granted: false, refused: ['chat', 'voip'] });
    expect(decideScopes(guestOnly, [], ['chat'])).toEqual({ granted: false, refused: ['chat'] });
  });
});

describe('TOKEN_SCOPES_BY_ROLE', () => {
  it('parses a JSON object of roles to ACS scopes, removing repeats', () => {
    expect(
      scopesByRoleSchema.parse('{"guest":["chat.join.limited","chat.join.limited"],"*":["chat"]}'),
    ).toEqual({
      guest: ['chat.join.limited'],
      '*': ['chat'],
    });
    const parsed = scopesByRoleSchema.parse('{"__proto__":["chat"]}');
    expect(Object.hasOwn(parsed, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
  });

  const base = {
    COMMUNICATION_SERVICES_CONNECTION_STRING: 'endpoint=https://acs.example/;accesskey=a2V5',
    AUTH_MODE: 'easyauth',
    WEBSITE_AUTH_ENABLED: 'true',
  };

  it('reaches the settings', () => {
    expect(loadSettings({ ...base, TOKEN_SCOPES_BY_ROLE: '{"guest":["voip"]}' }).tokens.scopesByRole).toEqual(
      {
        guest: ['voip'],
      },
    );
    expect(loadSettings(base).tokens.scopesByRole).toBeUndefined();
  });

  it.each([
    ['not JSON', '{guest: chat}', /is not valid JSON/],
    ['not an object', '["chat"]', /is not a JSON object/],
    ['a role mapped to a string', '{"guest":"chat"}', /something other than a list of scopes/],
    ['an unknown scope', '{"guest":["chat","sms.send.secret"]}', /not an ACS scope/],
    ['an empty role', '{" ":["chat"]}', /empty role/],
  ])('refuses %s at start-up, naming the setting but not its value', (_case, value, reason) => {
    let error: unknown;
    try {
      loadSettings({ ...base, TOKEN_SCOPES_BY_ROLE: value });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SettingsError);
    expect((error as SettingsError).settingNames).toEqual(['TOKEN_SCOPES_BY_ROLE']);
    expect((error as SettingsError).message).toMatch(reason);
    expect((error as SettingsError).message).not.toContain(value);
    expect((error as SettingsError).message).not.toContain('secret');
  });
});
