import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servicesFromEnvironment } from '../../../src/services.js';
import { type RunningAzurite, startAzurite } from '../../support/azurite.js';
import { callApp, type RunningService, startService } from '../../support/service.js';

describe('GET /api/health', () => {
  it('answers 200 {"status":"ok"} with the memory store, without authentication', async () => {
    const service = await startService();
    try {
      const response = await service.call('health');
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ status: 'ok' });
      expect(response.headers.get('cache-control')).toBe('no-store');
    } finally {
      await service.close();
    }
  });

  describe('with the table store', () => {
    let azurite: RunningAzurite;
    let service: RunningService;
    beforeAll(async () => {
      azurite = await startAzurite();
      service = await startService({ store: 'table', storageConnectionString: azurite.connectionString });
    });
    afterAll(async () => {
      await service.close();
      await azurite.stop();
    });

    it('answers 503 while storage is down, and 200 again once it is back, without a restart', async () => {
      expect((await service.call('health')).status).toBe(200);
      expect((await service.requestToken('before-outage')).status).toBe(200);

      await azurite.stop();
      const down = await service.call('health');
      expect(down.status).toBe(503);
      expect(down.headers.get('retry-after')).toBe('5');
      const body = (await down.json()) as Record<string, unknown>;
      // A store on this machine is named, with what to start; nothing else of the connection string is.
      expect(body).toMatchObject({ status: 503 });
      expect(body.detail).toContain(
        `Azure Table Storage at http://127.0.0.1:${azurite.port}/devstoreaccount1`,
      );
      expect(body.detail).toContain('Azurite is expected there');
      expect(JSON.stringify(body)).not.toMatch(/AccountKey|Eby8vdM0/);

      const before = await service.emulatorStats();
      const token = await service.requestToken('during-outage');
      expect(token.status).toBe(503);
      expect(token.headers.get('retry-after')).toBe('5');
      expect((await service.emulatorStats()).operations).toEqual(before.operations);

      await azurite.restart();
      expect((await service.call('health')).status).toBe(200);
      expect((await service.requestToken('after-outage')).status).toBe(200);
    });
  });

  it('answers 503 on every route when the settings are invalid, revealing no setting', async () => {
    const lines: string[] = [];
    const secret = 'endpoint=https://contoso.example/;accesskey=not-base64!';
    const services = servicesFromEnvironment(
      { COMMUNICATION_SERVICES_CONNECTION_STRING: secret, AUTH_MODE: 'jwt' },
      { log: (_level, event) => lines.push(JSON.stringify(event)) },
    );
    for (const [method, path] of [
      ['GET', 'health'],
      ['POST', 'token'],
    ] as const) {
      const response = await callApp(services, path, { method }, (_level, line) => lines.push(line));
      expect(response.status).toBe(503);
      const text = await response.text();
      expect(JSON.parse(text)).toMatchObject({
        type: 'urn:acs-token-service:problem:misconfigured',
        status: 503,
      });
      expect(text).not.toMatch(/COMMUNICATION_SERVICES|contoso/);
    }
    const settingsLine = lines.find((line) => line.includes('invalid_settings'));
    expect(settingsLine).toContain('COMMUNICATION_SERVICES_CONNECTION_STRING');
    expect(lines.join('\n')).not.toContain('contoso');
  });
});
