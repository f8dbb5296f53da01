import { describe, expect, it } from 'vitest';
import type { LogLevel } from '../../src/log.js';
import { servicesFromEnvironment } from '../../src/services.js';

const ACS = 'endpoint=http://127.0.0.1:9/;accesskey=a2V5';

function capture() {
  const events: { level: LogLevel; event: Record<string, unknown> }[] = [];
  return { events, log: (level: LogLevel, event: Record<string, unknown>) => events.push({ level, event }) };
}

describe('servicesFromEnvironment', () => {
  it('reports invalid settings by name once, and never throws', () => {
    const { events, log } = capture();
    const state = servicesFromEnvironment({ COMMUNICATION_SERVICES_CONNECTION_STRING: ACS }, { log });
    expect(state).toEqual({ ready: false, settingNames: ['AUTH_ISSUER', 'AUTH_AUDIENCE'] });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ level: 'error', event: { event: 'invalid_settings' } });
    expect(JSON.stringify(events)).not.toContain('a2V5');
  });

  it('warns at start-up about anonymous mode and the memory store', () => {
    const { events, log } = capture();
    const state = servicesFromEnvironment(
      { COMMUNICATION_SERVICES_CONNECTION_STRING: ACS, AUTH_MODE: 'anonymous' },
      { log },
    );
    expect(state.ready).toBe(true);
    expect(events.map(({ level, event }) => [level, event.event])).toEqual([
      ['warning', 'anonymous_mode'],
      ['warning', 'memory_identity_store'],
      ['information', 'token_sealing_development_key'],
    ]);
  });

  it('warns at start-up about each tenant template open to any tenant, naming its issuer', () => {
    const { events, log } = capture();
    const open = 'https://login.microsoftonline.com/{tenantid}/v2.0';
    const state = servicesFromEnvironment(
      {
        COMMUNICATION_SERVICES_CONNECTION_STRING: ACS,
        AUTH_ISSUERS: JSON.stringify([
          { issuer: open, audience: 'api://a', tenants: ['*'] },
          {
            issuer: 'https://sts.windows.net/{tenantid}/',
            audience: 'api://a',
            tenants: ['5b8d2f3a-4c1e-4a7b-9d60-2e8f1c3a7b94'],
          },
        ]),
      },
      { log },
    );
    expect(state.ready).toBe(true);
    expect(events.filter(({ event }) => event.event === 'any_tenant_issuer')).toEqual([
      { level: 'warning', event: expect.objectContaining({ issuer: open }) },
    ]);
  });

  it('builds the table store when storage is configured, without contacting it yet', () => {
    const { events, log } = capture();
    const state = servicesFromEnvironment(
      {
        COMMUNICATION_SERVICES_CONNECTION_STRING: ACS,
        AUTH_ISSUER: 'https://issuer.example',
        AUTH_AUDIENCE: 'api://x',
        AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      },
      { log },
    );
    expect(state.ready && state.services.settings.store.kind).toBe('table');
    // Azurite is local, so reusable tokens are shared through it, sealed with the public development key.
    expect(events.map(({ level, event }) => [level, event.event])).toEqual([
      ['information', 'token_sealing_development_key'],
    ]);
  });

  it('keeps reusable tokens per instance, and says why, for a remote store without a sealing key', () => {
    const { events, log } = capture();
    const remote = {
      COMMUNICATION_SERVICES_CONNECTION_STRING: ACS,
      AUTH_ISSUER: 'https://issuer.example',
      AUTH_AUDIENCE: 'api://x',
      IDENTITY_STORE_ENDPOINT: 'https://account.table.core.windows.net',
    };
    const state = servicesFromEnvironment(remote, { log });
    expect(state.ready && state.services.reuse?.constructor.name).toBe('InstanceTokenReuse');
    expect(events.map(({ level, event }) => [level, event.event])).toEqual([
      ['warning', 'token_sealing_off'],
    ]);
    expect(JSON.stringify(events)).toContain('TOKEN_SEALING_KEY_URL');

    const off = capture();
    const noReuse = servicesFromEnvironment({ ...remote, TOKEN_REUSE: 'false' }, { log: off.log });
    expect(noReuse.ready && noReuse.services.reuse).toBeUndefined();
    expect(off.events).toEqual([]);
  });
});
