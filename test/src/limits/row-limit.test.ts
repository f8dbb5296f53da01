import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../../dev/emulator/index.js';
import { AcsGateway, createIdentityClient } from '../../../src/acs/client.js';
import { deleteUserIdentity } from '../../../src/identities/lifecycle.js';
import { MemoryIdentityStore } from '../../../src/identities/memory/memory-identity-store.js';
import { issueTokenForUser } from '../../../src/identities/provisioning.js';
import { UserRows } from '../../../src/identities/user-row.js';
import { ACS_WEIGHTS, levelAt, spend } from '../../../src/limits/row-limit.js';
import { UserLimitExceededError } from '../../../src/shared/errors.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const options = { perMinute: 10 };

describe('the per-user limit carried in the row', () => {
  it('starts full, refills at the per-minute rate in the store time, and never beyond the bucket', () => {
    expect(levelAt({}, T0, options)).toBe(10);
    expect(levelAt({ limitTokens: 0, limitAt: T0 }, T0 + 30_000, options)).toBe(5);
    expect(levelAt({ limitTokens: 4, limitAt: T0 }, T0 + 600_000, options)).toBe(10);
    // A store time that went backwards refills nothing rather than draining.
    expect(levelAt({ limitTokens: 4, limitAt: T0 }, T0 - 5_000, options)).toBe(4);
  });

  it('weighs a delete or revoke twice an issue or create, and a reused token nothing', () => {
    expect(ACS_WEIGHTS).toMatchObject({ reused: 0, issue: 1, create: 1, delete: 2, revoke: 2 });
    const full = {};
    expect(spend(full, 'delete', T0, options)).toEqual({
      allowed: true,
      fields: { limitTokens: 8, limitAt: T0 },
    });
    expect(spend({ limitTokens: 1, limitAt: T0 }, 'issue', T0, options)).toMatchObject({ allowed: true });
    expect(spend({ limitTokens: 1, limitAt: T0 }, 'delete', T0, options)).toEqual({
      allowed: false,
      retryAfterSeconds: 6, // one more token refills in 6 s at 10 a minute
    });
    expect(spend({ limitTokens: 0, limitAt: T0 }, 'reused', T0, options)).toMatchObject({ allowed: true });
  });

  it('lets an operation heavier than the whole bucket through on a full bucket', () => {
    expect(spend({}, 'delete', T0, { perMinute: 1 })).toMatchObject({
      allowed: true,
      fields: { limitTokens: 0 },
    });
  });
});

describe('one account cycling token + erase (issue 19, point 8)', () => {
  let emulator: RunningEmulator;
  let gateway: AcsGateway;
  beforeAll(async () => {
    emulator = await startEmulator();
    gateway = new AcsGateway(
      createIdentityClient({ kind: 'connectionString', connectionString: emulator.connectionString }),
      5_000,
    );
  });
  afterAll(() => emulator.close());

  it('spends 3 a cycle at a limit of 10 a minute: 3 cycles and a create, then refused before any ACS call', async () => {
    const rows = new UserRows(new MemoryIdentityStore(), options);
    const user = { issuer: 'https://issuer.test', userId: 'cycler' };
    const order = { scopes: ['chat'] as const, expiresInMinutes: 60 };
    const before = (await (await fetch(new URL('emulator/stats', emulator.endpoint))).json()) as {
      operations: { deleteIdentity: number };
    };
    let cycles = 0;
    let refused: unknown;
    for (; cycles < 10; cycles++) {
      try {
        await issueTokenForUser(
          { rows, acs: gateway.session(), log: () => {}, reuse: undefined },
          user,
          order,
        );
        await deleteUserIdentity({ rows, acs: gateway.session() }, user);
      } catch (error) {
        refused = error;
        break;
      }
    }
    const after = (await (await fetch(new URL('emulator/stats', emulator.endpoint))).json()) as typeof before;
    expect(refused).toBeInstanceOf(UserLimitExceededError);
    expect(cycles).toBe(3);
    expect(after.operations.deleteIdentity - before.operations.deleteIdentity).toBe(3);
  });
});
