import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devUserIds } from '../../dev/dev-issuer.js';
import {
  auditLines,
  callAs,
  expectProblem,
  LIFECYCLE_TEST_ENV,
  tokenAs,
} from '../src/functions/api-client.js';
import { type RunningService, startService } from '../support/service.js';

const ADMIN_ROLE = 'Tokens.Admin';
const scopesByRole = { guest: ['chat.join.limited'], member: ['chat', 'voip'], '*': ['chat.join.limited'] };

/**
 * The lifecycle of issue 4 end to end over real HTTP: the local host, the ACS emulator, Azure Table Storage on
 * Azurite and the test JWKS issuer, configured as a deployment would be.
 */
describe('identity lifecycle and access policy (Table Storage)', () => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({
      store: 'table',
      env: {
        ...LIFECYCLE_TEST_ENV,
        AUTH_ADMIN_ROLE: ADMIN_ROLE,
        TOKEN_ALLOWED_SCOPES: 'chat,voip,chat.join.limited',
        TOKEN_SCOPES_BY_ROLE: JSON.stringify(scopesByRole),
      },
    });
  });
  afterAll(() => service.close());

  const member = { claims: { roles: ['member'] } };
  const admin = { claims: { roles: [ADMIN_ROLE] } };

  it('revoke: old tokens inactive per the emulator, a new one active, same identity', async () => {
    const old = await tokenAs(service, 'ana', member.claims);
    expect((await callAs(service, 'ana', 'POST', 'identity/revoke', member)).status).toBe(204);
    expect(await service.introspect(old.token)).toMatchObject({ active: false, inactiveReason: 'revoked' });
    const fresh = await tokenAs(service, 'ana', member.claims);
    expect(fresh.user.communicationUserId).toBe(old.user.communicationUserId);
    expect(await service.introspect(fresh.token)).toMatchObject({ active: true });
  });

  it('delete: the emulator no longer knows the old identity; the next token belongs to a new one', async () => {
    const old = await tokenAs(service, 'ben', member.claims);
    expect((await callAs(service, 'ben', 'DELETE', 'identity', member)).status).toBe(204);
    expect(await service.emulatorIdentities()).not.toContain(old.user.communicationUserId);
    expect(await service.introspect(old.token)).toMatchObject({ active: false });
    expect((await callAs(service, 'ben', 'DELETE', 'identity', member)).status).toBe(204);

    const next = await tokenAs(service, 'ben', member.claims);
    expect(next.user.communicationUserId).not.toBe(old.user.communicationUserId);
    expect(await service.emulatorIdentities()).toContain(next.user.communicationUserId);
    const mine = (await service.mappings()).filter((mapping) => mapping.userId === devUserIds('ben').oid);
    expect(mine.map((mapping) => mapping.communicationUserId)).toEqual([next.user.communicationUserId]);
  });

  it('user A cannot touch user B: self-service acts on the caller only; admin routes refuse A', async () => {
    const a = await tokenAs(service, 'user-a', member.claims);
    const b = await tokenAs(service, 'user-b', member.claims);
    const bId = devUserIds('user-b').oid;

    await expectProblem(
      await callAs(service, 'user-a', 'POST', `admin/users/${bId}/revoke`, member),
      403,
      'forbidden',
    );
    await expectProblem(
      await callAs(service, 'user-a', 'DELETE', `admin/users/${bId}`, member),
      403,
      'forbidden',
    );
    // Query strings and bodies name no one: self-service always means the verified caller.
    const sneaky = await fetch(service.api(`identity/revoke?userId=${bId}`), {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${await service.tokenFor('user-a', member.claims)}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({ userId: bId }),
    });
    expect(sneaky.status).toBe(204);
    expect(await (await callAs(service, 'user-a', 'GET', 'identity', member)).json()).toEqual({
      communicationUserId: a.user.communicationUserId,
    });

    expect(await service.introspect(b.token)).toMatchObject({ active: true });
    expect(await service.introspect(a.token)).toMatchObject({ active: false });
    expect(await service.emulatorIdentities()).toContain(b.user.communicationUserId);
  });

  it('admins revoke and erase any user of their issuer; unknown users are 404; all of it is audited', async () => {
    const target = await tokenAs(service, 'carl', member.claims);
    const carl = devUserIds('carl').oid;
    expect((await callAs(service, 'boss', 'POST', `admin/users/${carl}/revoke`, admin)).status).toBe(204);
    expect(await service.introspect(target.token)).toMatchObject({ active: false });
    expect((await callAs(service, 'boss', 'DELETE', `admin/users/${carl}`, admin)).status).toBe(204);
    expect(await service.emulatorIdentities()).not.toContain(target.user.communicationUserId);
    await expectProblem(
      await callAs(service, 'boss', 'DELETE', `admin/users/${carl}`, admin),
      404,
      'not-found',
    );
    await expectProblem(
      await callAs(service, 'boss', 'POST', `admin/users/nobody/revoke`, admin),
      404,
      'not-found',
    );

    const lines = auditLines(service);
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const line of lines) {
      expect(Object.keys(line).sort()).toEqual(
        expect.arrayContaining([
          'action',
          'actor',
          'actorKind',
          'at',
          'event',
          'invocationId',
          'outcome',
          'subject',
        ]),
      );
      expect(String(line.actor)).toMatch(/^[0-9a-f]{16}$/);
      expect(String(line.subject)).toMatch(/^[0-9a-f]{16}$/);
    }
    const everything = service.logs.map(({ line }) => line).join('\n');
    expect(everything).not.toContain(target.token);
    expect(everything).not.toContain(carl);
  });

  it('guests get only their scopes: 403 for more, with no ACS call; their default is their own scope', async () => {
    const before = await service.emulatorStats();
    for (const scopes of [['chat'], ['voip'], ['chat.join.limited', 'voip']]) {
      const guestAsksMore = await callAs(service, 'gus', 'POST', 'token', {
        claims: { roles: ['guest'] },
        body: { scopes },
      });
      const refused = await expectProblem(guestAsksMore, 403, 'forbidden');
      expect(refused.detail).toMatch(/voip|chat/);
    }
    const after = await service.emulatorStats();
    expect(after.operations).toEqual(before.operations);

    const guest = await tokenAs(service, 'gus', { roles: ['guest'] });
    expect(await service.introspect(guest.token)).toMatchObject({
      active: true,
      scopes: ['chat.join.limited'],
    });
    const everyone = await tokenAs(service, 'nobody-special');
    expect(await service.introspect(everyone.token)).toMatchObject({ scopes: ['chat.join.limited'] });
    const members = await tokenAs(service, 'mia', { roles: ['member'] });
    expect(await service.introspect(members.token)).toMatchObject({ scopes: ['chat', 'voip'] });
    const both = await callAs(service, 'gus', 'POST', 'token', {
      claims: { roles: ['guest', 'member'] },
      body: { scopes: ['chat.join.limited', 'voip'] },
    });
    expect(both.status).toBe(200);
  });
});
