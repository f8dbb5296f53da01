import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../../dev/emulator/index.js';
import { boundAddressNames, isLoopbackHost } from '../../../dev/loopback-host.js';

const isAllowedHost = (host: string | undefined, bindHost: string) =>
  isLoopbackHost(host, boundAddressNames(bindHost));

describe('the emulator’s Host rule (dev/loopback-host.ts, plus the literal address it is bound to)', () => {
  it.each([
    '127.0.0.1',
    '127.0.0.1:8871',
    '127.12.34.56:1',
    'localhost',
    'LOCALHOST:8871',
    '[::1]',
    '[::1]:8871',
  ])('accepts the loopback host %s', (host) => {
    expect(isAllowedHost(host, '127.0.0.1')).toBe(true);
  });

  it.each([
    undefined,
    '',
    'evil.example',
    'evil.example:8871',
    'localhost.evil.example',
    '127.0.0.1.evil.example',
    '128.0.0.1',
    '127.0.0.256',
    '[::2]:8871',
    '0.0.0.0:8871',
    '127.0.0.1:8871:1',
    '10.0.0.5:8871',
  ])('refuses %s', (host) => {
    expect(isAllowedHost(host, '127.0.0.1')).toBe(false);
  });

  it('also accepts the literal address the emulator was explicitly bound to, never a wildcard', () => {
    expect(isAllowedHost('10.0.0.5:8871', '10.0.0.5')).toBe(true);
    expect(isAllowedHost('10.0.0.5:8871', '0.0.0.0')).toBe(false);
    expect(isAllowedHost('evil.example', 'evil.example')).toBe(false);
  });
});

describe('the emulator behind a rebound DNS name', () => {
  let emulator: RunningEmulator;
  beforeAll(async () => {
    emulator = await startEmulator();
  });
  afterAll(async () => {
    await emulator.close();
  });

  function get(path: string, host: string): Promise<{ status: number; contentType?: string; body: string }> {
    const url = new URL(path, emulator.endpoint);
    return new Promise((resolve, reject) => {
      const request = http.request(url, { headers: { host } }, (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, contentType: response.headers['content-type'], body }),
        );
      });
      request.on('error', reject).end();
    });
  }

  it('refuses a request naming another host with 421 and an ACS-shaped error, on every path', async () => {
    for (const path of [
      'emulator/stats',
      'emulator/identities',
      'identities?api-version=2023-10-01',
      'msi/token',
    ]) {
      const response = await get(path, `evil.example:${new URL(emulator.endpoint).port}`);
      expect(response.status, path).toBe(421);
      expect(response.contentType).toBe('application/json');
      expect(JSON.parse(response.body)).toMatchObject({ error: { code: 'MisdirectedRequest' } });
    }
  });

  it('serves requests naming localhost or the loopback address', async () => {
    const { port } = new URL(emulator.endpoint);
    expect((await get('emulator/stats', `localhost:${port}`)).status).toBe(200);
    expect((await get('emulator/stats', `127.0.0.1:${port}`)).status).toBe(200);
  });
});
