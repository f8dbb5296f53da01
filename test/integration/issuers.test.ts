import { randomUUID } from 'node:crypto';
import { CommunicationIdentityClient } from '@azure/communication-identity';
import { TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type DevClaims, type DevIssuer, devUserIds, startDevIssuer } from '../../dev/dev-issuer.js';
import { type RunningEmulator, startEmulator } from '../../dev/emulator/index.js';
import { hashUser } from '../../src/log.js';
import {
  auditLines,
  expectProblem,
  LIFECYCLE_TEST_ENV,
  type TokenBody,
} from '../src/functions/api-client.js';
import { type RunningService, startService } from '../support/service.js';

const ADMIN_ROLE = 'Tokens.Admin';
const TENANT_1 = '11111111-1111-4111-8111-111111111111';
const TENANT_2 = '22222222-2222-4222-8222-222222222222';
const UNLISTED_TENANT = '33333333-3333-4333-8333-333333333333';
const TEMPLATE_AUDIENCE = 'api://multi-tenant-app';

/**
 * Issue 22's "done when", over the local host, the ACS emulator and real JWKS servers: three issuers configured in
 * AUTH_ISSUERS, two plain (two development identity providers) and one Entra-style tenant template with two allowed
 * tenants (signed by the first provider's keys, `iss` = `<provider>/<tid>/v2.0`, as Entra's is
 * `https://login.microsoftonline.com/<tid>/v2.0`).
 */
describe('AUTH_ISSUERS: two plain issuers and a tenant template', () => {
  let first: DevIssuer;
  let second: DevIssuer;
  let service: RunningService;
  const template = () => `${first.issuer}/{tenantid}/v2.0`;
  const tenantIssuer = (tenant: string) => `${first.issuer}/${tenant}/v2.0`;

  beforeAll(async () => {
    first = await startDevIssuer();
    second = await startDevIssuer({ audience: 'api://second-app' });
    service = await startService({
      issuer: first,
      env: {
        ...LIFECYCLE_TEST_ENV,
        AUTH_ISSUER: undefined,
        AUTH_AUDIENCE: undefined,
        AUTH_ADMIN_ROLE: ADMIN_ROLE,
        AUTH_ISSUERS: JSON.stringify([
          { issuer: first.issuer, audience: first.audience, jwksUri: first.jwksUri },
          { issuer: second.issuer, audience: [second.audience], jwksUri: second.jwksUri },
          {
            issuer: template(),
            audience: TEMPLATE_AUDIENCE,
            jwksUri: first.jwksUri,
            tenants: [TENANT_1, TENANT_2],
          },
        ]),
      },
    });
  });
  afterAll(async () => {
    await service.close();
    await second.close();
    await first.close();
  });

  /** A token of `user` (a dev user name: the same oid under every issuer) from the given issuer form. */
  async function tokenOf(user: string, from: 'first' | 'second' | string, claims: DevClaims = {}) {
    const ids = { ...devUserIds(user), name: user, ...claims };
    if (from === 'first') return first.mint(ids);
    if (from === 'second') return second.mint(ids);
    return first.mint({ ...ids, tid: from }, { issuer: tenantIssuer(from), audience: TEMPLATE_AUDIENCE });
  }

  const post = (path: string, token: string, body?: unknown) =>
    service.call(path, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  async function acsIdentityOf(token: string): Promise<string> {
    const response = await post('token', token);
    expect(response.status).toBe(200);
    return ((await response.json()) as TokenBody).user.communicationUserId;
  }

  /** Every call the emulator saw: carried out or refused. */
  const acsCalls = async () => {
    const { operations, rejected } = await service.emulatorStats();
    return [...Object.values(operations), ...Object.values(rejected)].reduce((sum, count) => sum + count, 0);
  };

  it('accepts tokens of each issuer and of each allowed tenant', async () => {
    for (const from of ['first', 'second', TENANT_1, TENANT_2]) {
      await acsIdentityOf(await tokenOf('alice', from));
    }
  });

  it('gives the same subject under two issuers, or in two tenants, two identities', async () => {
    const identities = await Promise.all(
      ['first', 'second', TENANT_1, TENANT_2].map(async (from) => acsIdentityOf(await tokenOf('bob', from))),
    );
    expect(new Set(identities).size).toBe(4);
    // And each stays that user's one identity.
    expect(await acsIdentityOf(await tokenOf('bob', TENANT_2))).toBe(identities[3]);
    const keys = (await service.mappings())
      .filter((record) => record.userId === devUserIds('bob').oid)
      .map((record) => record.issuer)
      .sort();
    expect(keys).toEqual(
      [first.issuer, second.issuer, tenantIssuer(TENANT_1), tenantIssuer(TENANT_2)].sort(),
    );
  });

  it('answers 401 with no ACS call to an unlisted issuer, another issuer’s audience, an unlisted tenant and an iss/tid mismatch', async () => {
    const ids = { ...devUserIds('mallory'), name: 'mallory' };
    const unlisted = await startDevIssuer();
    try {
      const refused = {
        unlistedIssuer: await unlisted.mint(ids),
        // Signed by a trusted key, naming an issuer nobody configured.
        unlistedIssuerName: await first.mint(ids, { issuer: `${first.issuer}/elsewhere` }),
        otherIssuersAudience: await first.mint(ids, { audience: second.audience }),
        templateAudienceOnPlainIssuer: await first.mint(ids, { audience: TEMPLATE_AUDIENCE }),
        unlistedTenant: await tokenOf('mallory', UNLISTED_TENANT),
        issTidMismatch: await first.mint(
          { ...ids, tid: TENANT_2 },
          { issuer: tenantIssuer(TENANT_1), audience: TEMPLATE_AUDIENCE },
        ),
        templateWithoutTid: await first.mint(ids, {
          issuer: tenantIssuer(TENANT_1),
          audience: TEMPLATE_AUDIENCE,
        }),
      };
      const before = await acsCalls();
      for (const [name, token] of Object.entries(refused)) {
        const response = await post('token', token);
        expect(response.status, name).toBe(401);
        await expectProblem(response, 401, 'unauthenticated');
      }
      expect(await acsCalls()).toBe(before);
    } finally {
      await unlisted.close();
    }
  });

  it('lets an admin of one issuer erase a user of another by naming it, and audits both issuers', async () => {
    const victimToken = await tokenOf('carol', 'second');
    const victim = await acsIdentityOf(victimToken);
    const tenantVictim = await acsIdentityOf(await tokenOf('carol', TENANT_2));
    const admin = await tokenOf('root', 'first', { roles: [ADMIN_ROLE] });
    const carol = devUserIds('carol').oid;

    expect((await post('admin/delete-user', admin, { userId: carol, issuer: second.issuer })).status).toBe(
      204,
    );
    expect(await service.emulatorIdentities()).not.toContain(victim);
    // The user of the same id under the admin's own issuer was never touched: without `issuer`, that is who it means.
    await expectProblem(await post('admin/delete-user', admin, { userId: carol }), 404, 'not-found');
    expect(await service.emulatorIdentities()).toContain(tenantVictim);

    // A template's users are named by their tenant's issuer.
    const tenantUser = { userId: carol, issuer: tenantIssuer(TENANT_2) };
    expect((await post('admin/delete-user', admin, tenantUser)).status).toBe(204);
    expect(await service.emulatorIdentities()).not.toContain(tenantVictim);

    const adminKey = { issuer: first.issuer, userId: devUserIds('root').oid };
    expect(auditLines(service)).toContainEqual(
      expect.objectContaining({
        action: 'identity.delete',
        outcome: 'deleted',
        actor: hashUser(adminKey),
        actorIssuer: first.issuer,
        subject: hashUser({ issuer: second.issuer, userId: carol }),
        subjectIssuer: second.issuer,
      }),
    );
  });

  it('refuses to name an issuer or tenant that is not configured (400, no ACS call)', async () => {
    const admin = await tokenOf('root', 'first', { roles: [ADMIN_ROLE] });
    const before = await acsCalls();
    for (const issuer of ['https://elsewhere.example/', tenantIssuer(UNLISTED_TENANT)]) {
      const problem = await expectProblem(
        await post('admin/revoke-user', admin, { userId: 'someone', issuer }),
        400,
        'invalid-request',
      );
      expect(problem.errors).toEqual([
        { name: 'issuer', reason: 'is not a configured issuer (see AUTH_ISSUERS)' },
      ]);
    }
    expect(await acsCalls()).toBe(before);
  });
});

describe('AUTH_ADMIN_REACH=own-issuer', () => {
  let own: DevIssuer;
  let second: DevIssuer;
  let service: RunningService;
  beforeAll(async () => {
    own = await startDevIssuer();
    second = await startDevIssuer({ audience: 'api://second-app' });
    service = await startService({
      issuer: own,
      env: {
        ...LIFECYCLE_TEST_ENV,
        AUTH_ADMIN_ROLE: ADMIN_ROLE,
        AUTH_ADMIN_REACH: 'own-issuer',
        AUTH_ISSUER: undefined,
        AUTH_AUDIENCE: undefined,
        AUTH_ISSUERS: JSON.stringify([
          { issuer: own.issuer, audience: own.audience, jwksUri: own.jwksUri },
          { issuer: second.issuer, audience: second.audience, jwksUri: second.jwksUri },
        ]),
      },
    });
  });
  afterAll(async () => {
    await service.close();
    await second.close();
    await own.close();
  });

  it('refuses (403, audited) an admin acting on another issuer’s user, and allows its own', async () => {
    const carol = { ...devUserIds('carol'), name: 'carol' };
    const victim = await service.call('token', {
      method: 'POST',
      headers: { Authorization: `Bearer ${await second.mint(carol)}` },
    });
    expect(victim.status).toBe(200);
    const admin = await service.tokenFor('root', { roles: [ADMIN_ROLE] });
    const response = await service.call('admin/revoke-user', {
      method: 'POST',
      headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ userId: carol.oid, issuer: second.issuer }),
    });
    await expectProblem(response, 403, 'forbidden');
    expect(auditLines(service)).toContainEqual(
      expect.objectContaining({ outcome: 'forbidden', subjectIssuer: second.issuer }),
    );
    await service.requestToken('dave');
    const ownUser = service.call('admin/revoke-user', {
      method: 'POST',
      headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ userId: devUserIds('dave').oid, issuer: own.issuer }),
    });
    expect((await ownUser).status).toBe(204);
  });
});

/**
 * A table written by the release before AUTH_ISSUERS (one issuer, AUTH_ISSUER): the entity below is that release's
 * format (src/identities/table/table-identity-store.ts at that release: partition `b` + base64url of the issuer, row
 * `b` + base64url of the user id, the raw values as properties), written with the plain Table client.
 */
describe('a store written by the single-issuer release', () => {
  let emulator: RunningEmulator;
  let issuer: DevIssuer;
  const tableName = `T${randomUUID().replaceAll('-', '').slice(0, 24)}`;
  const user = devUserIds('legacy-user').oid;
  let legacyIdentity: string;

  beforeAll(async () => {
    emulator = await startEmulator();
    issuer = await startDevIssuer();
    const acs = new CommunicationIdentityClient(emulator.connectionString, { allowInsecureConnection: true });
    legacyIdentity = (await acs.createUser()).communicationUserId;
    const table = TableClient.fromConnectionString(inject('azuriteConnectionString'), tableName, {
      allowInsecureConnection: true,
    });
    await table.createTable();
    const key = (value: string) => `b${Buffer.from(value, 'utf8').toString('base64url')}`;
    await table.createEntity({
      partitionKey: key(issuer.issuer),
      rowKey: key(user),
      issuer: issuer.issuer,
      userId: user,
      createdAt: '2026-11-01T09:00:00.000Z',
      communicationUserId: legacyIdentity,
    });
  });
  afterAll(async () => {
    await issuer.close();
    await emulator.close();
  });

  it.each([
    ['AUTH_ISSUER and AUTH_AUDIENCE, as before', (_dev: DevIssuer) => ({})],
    [
      'the same issuer moved into AUTH_ISSUERS beside a tenant template',
      (dev: DevIssuer) => ({
        AUTH_ISSUER: undefined,
        AUTH_AUDIENCE: undefined,
        AUTH_ISSUERS: JSON.stringify([
          { issuer: dev.issuer, audience: dev.audience },
          { issuer: `${dev.issuer}/{tenantid}/v2.0`, audience: TEMPLATE_AUDIENCE, tenants: [TENANT_1] },
        ]),
      }),
    ],
  ])('keeps its users’ identities with %s', async (_name, settings) => {
    const service = await startService({
      store: 'table',
      emulator,
      issuer,
      env: { ...LIFECYCLE_TEST_ENV, IDENTITY_TABLE_NAME: tableName, ...settings(issuer) },
    });
    try {
      const creations = (await service.emulatorStats()).operations.createIdentity;
      const response = await service.requestToken('legacy-user');
      expect(response.status).toBe(200);
      expect(((await response.json()) as TokenBody).user.communicationUserId).toBe(legacyIdentity);
      expect((await service.emulatorStats()).operations.createIdentity).toBe(creations);
    } finally {
      await service.close();
    }
  });
});
