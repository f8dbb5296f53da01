import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmulatorStats, type RunningService, startService } from '../../support/service.js';

interface TokenBody {
  user: { communicationUserId: string };
  token: string;
  expiresOn: string;
}

const REUSE_ON = { TOKEN_REUSE: 'true', IDENTITY_CACHE_TTL_SECONDS: '60', RATE_LIMIT_PER_MINUTE: '1000' };

const acsCalls = (before: EmulatorStats, after: EmulatorStats) =>
  Object.entries(after.operations).reduce(
    (total, [name, count]) => total + count - before.operations[name as keyof EmulatorStats['operations']],
    0,
  );

/**
 * The emulator signs deterministically: two tokens for one identity, scopes and expiry asked for within the same
 * second are byte for byte the same. Waiting for the next second keeps "a new token" distinguishable.
 */
const nextSecond = () => new Promise((resolve) => setTimeout(resolve, 1001 - (Date.now() % 1000)));

async function tokenFor(service: RunningService, user: string, body?: unknown): Promise<TokenBody> {
  const response = await service.requestToken(user, body);
  expect(response.status).toBe(200);
  return (await response.json()) as TokenBody;
}

async function callAs(service: RunningService, user: string, method: string, path: string): Promise<number> {
  const response = await fetch(service.api(path), {
    method,
    headers: { Authorization: `Bearer ${await service.tokenFor(user)}` },
  });
  await response.arrayBuffer();
  return response.status;
}

describe.each(['memory', 'table'] as const)('token reuse over HTTP (%s store)', (store) => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ store, env: REUSE_ON });
  });
  afterAll(() => service.close());

  it('hands the same token back to a user asking again, with no ACS call', async () => {
    const first = await tokenFor(service, 'again', { scopes: ['chat', 'voip'] });
    const before = await service.emulatorStats();
    const second = await tokenFor(service, 'again', { scopes: ['voip', 'chat'] });
    const third = await tokenFor(service, 'again', { scopes: ['chat', 'voip'], expiresInMinutes: 60 });

    expect(acsCalls(before, await service.emulatorStats())).toBe(0);
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    expect(await service.introspect(second.token)).toMatchObject({ active: true });
  });

  it('asks ACS for another order (other scopes or expiry) and reuses each separately', async () => {
    await tokenFor(service, 'orders', { scopes: ['chat'] });
    const before = await service.emulatorStats();
    const voip = await tokenFor(service, 'orders', { scopes: ['voip'] });
    const longer = await tokenFor(service, 'orders', { scopes: ['chat'], expiresInMinutes: 120 });
    expect(acsCalls(before, await service.emulatorStats())).toBe(2);
    expect(await service.introspect(voip.token)).toMatchObject({ active: true, scopes: ['voip'] });
    expect(Date.parse(longer.expiresOn) - Date.now()).toBeGreaterThan(110 * 60_000);

    const again = await service.emulatorStats();
    expect((await tokenFor(service, 'orders', { scopes: ['voip'] })).token).toBe(voip.token);
    expect(acsCalls(again, await service.emulatorStats())).toBe(0);
  });

  it('never hands back a token after the user revoked: the next one is new and active, the old one is not', async () => {
    const old = await tokenFor(service, 'revoker');
    await nextSecond();
    expect(await callAs(service, 'revoker', 'POST', 'identity/revoke')).toBe(204);

    const before = await service.emulatorStats();
    const fresh = await tokenFor(service, 'revoker');
    expect(acsCalls(before, await service.emulatorStats())).toBe(1);
    expect(fresh.token).not.toBe(old.token);
    expect(fresh.user).toEqual(old.user);
    expect(await service.introspect(old.token)).toMatchObject({ active: false });
    expect(await service.introspect(fresh.token)).toMatchObject({ active: true });
  });

  it('after the user deleted its identity, hands out a token of the new identity', async () => {
    const old = await tokenFor(service, 'leaver');
    expect(await callAs(service, 'leaver', 'DELETE', 'identity')).toBe(204);

    const fresh = await tokenFor(service, 'leaver');
    expect(fresh.user.communicationUserId).not.toBe(old.user.communicationUserId);
    expect(await service.introspect(fresh.token)).toMatchObject({ active: true });
    expect(await service.emulatorIdentities()).not.toContain(old.user.communicationUserId);
  });
});

describe('token reuse across instances sharing one table', () => {
  const TTL_SECONDS = 2;
  let first: RunningService;
  let second: RunningService;
  beforeAll(async () => {
    const env = { ...REUSE_ON, IDENTITY_CACHE_TTL_SECONDS: String(TTL_SECONDS) };
    first = await startService({ store: 'table', env });
    second = await startService({
      store: 'table',
      emulator: first.emulator,
      issuer: first.issuer,
      env: { ...env, IDENTITY_TABLE_NAME: first.tableName },
    });
  });
  afterAll(async () => {
    await second?.close();
    await first?.close();
  });

  it('stops reusing a token revoked on another instance once that instance’s revocation is read (within the TTL)', async () => {
    const kept = await tokenFor(second, 'roaming');
    expect((await tokenFor(first, 'roaming')).user).toEqual(kept.user);
    const reusing = await second.emulatorStats();
    expect((await tokenFor(second, 'roaming')).token).toBe(kept.token);
    expect(acsCalls(reusing, await second.emulatorStats())).toBe(0);
    await nextSecond();
    expect(await callAs(first, 'roaming', 'POST', 'identity/revoke')).toBe(204);

    // The documented staleness: until the second instance reads the mapping again, it still has the old one.
    await new Promise((resolve) => setTimeout(resolve, TTL_SECONDS * 1000 + 100));
    const before = await second.emulatorStats();
    const fresh = await tokenFor(second, 'roaming');
    expect(acsCalls(before, await second.emulatorStats())).toBe(1);
    expect(fresh.token).not.toBe(kept.token);
    expect(await second.introspect(fresh.token)).toMatchObject({ active: true });
    expect(await second.introspect(kept.token)).toMatchObject({ active: false });
  });
});

/**
 * With reuse off the stale cached mapping reaches ACS, which answers that the identity is gone. (With reuse on,
 * the other instance may hand out the old token until its cache expires: the documented staleness.)
 */
describe('a mapping cached on one instance, the identity deleted on another', () => {
  let first: RunningService;
  let second: RunningService;
  beforeAll(async () => {
    const env = { ...REUSE_ON, TOKEN_REUSE: 'false' };
    first = await startService({ store: 'table', env });
    second = await startService({
      store: 'table',
      emulator: first.emulator,
      issuer: first.issuer,
      env: { ...env, IDENTITY_TABLE_NAME: first.tableName },
    });
  });
  afterAll(async () => {
    await second?.close();
    await first?.close();
  });

  it('gives the user a token of its new identity, not an error, within the cache TTL', async () => {
    const old = await tokenFor(second, 'erased');
    expect(await callAs(first, 'erased', 'DELETE', 'identity')).toBe(204);

    const fresh = await tokenFor(second, 'erased');
    expect(fresh.user.communicationUserId).not.toBe(old.user.communicationUserId);
    expect(await second.introspect(fresh.token)).toMatchObject({ active: true });
    expect(await first.emulatorIdentities()).toContain(fresh.user.communicationUserId);
  });
});

describe('with TOKEN_REUSE=false', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ env: { ...REUSE_ON, TOKEN_REUSE: 'false' } });
  });
  afterAll(() => service.close());

  it('asks ACS for every token', async () => {
    await tokenFor(service, 'no-reuse');
    const before = await service.emulatorStats();
    await tokenFor(service, 'no-reuse');
    await tokenFor(service, 'no-reuse');
    expect(acsCalls(before, await service.emulatorStats())).toBe(2);
  });
});
