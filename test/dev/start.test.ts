import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readLocalSettings, startDevelopment } from '../../dev/start.js';

const TSX = path.resolve(import.meta.dirname, '../../node_modules/.bin/tsx');
const START = path.resolve(import.meta.dirname, '../../dev/start.ts');

const directories: string[] = [];
function settingsDir(values?: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'start-test-'));
  directories.push(dir);
  if (values)
    writeFileSync(
      path.join(dir, 'local.settings.json'),
      JSON.stringify({ IsEncrypted: false, Values: values }),
    );
  return dir;
}
afterEach(() => {
  for (const dir of directories.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('readLocalSettings', () => {
  it('reads Values from local.settings.json, and nothing when it is absent', () => {
    expect(readLocalSettings(settingsDir({ AUTH_MODE: 'jwt' }))).toEqual({ AUTH_MODE: 'jwt' });
    expect(readLocalSettings(settingsDir())).toEqual({});
  });
});

describe('startDevelopment', () => {
  it('starts the emulator and the dev issuer when not configured; the environment overrides the file', async () => {
    const dir = settingsDir({
      FUNCTIONS_WORKER_RUNTIME: 'node',
      TOKEN_ALLOWED_SCOPES: 'chat,voip,chat.join',
      TOKEN_DEFAULT_EXPIRES_IN_MINUTES: '120',
    });
    const dev = await startDevelopment({
      port: 0,
      env: { TOKEN_DEFAULT_EXPIRES_IN_MINUTES: '90' },
      settingsDir: dir,
    });
    try {
      expect(dev.emulator).toBeDefined();
      expect(dev.issuer).toBeDefined();
      expect(dev.host.services.ready).toBe(true);
      const settings = dev.host.services.ready ? dev.host.services.services.settings : undefined;
      expect(settings?.tokens).toMatchObject({
        allowedScopes: ['chat', 'voip', 'chat.join'],
        defaultScopes: ['chat', 'voip'],
        defaultExpiresInMinutes: 90,
      });
      expect(settings?.store).toEqual({ kind: 'memory' });
      expect(dev.banner).toContain(`http://localhost:${dev.host.port}/api`);
      expect(dev.banner).toContain(`${dev.issuer?.issuer}/token`);
    } finally {
      await dev.close();
    }
  });

  it('uses the configured ACS and issuer instead of starting local ones', async () => {
    const dev = await startDevelopment({
      port: 0,
      env: {
        COMMUNICATION_SERVICES_CONNECTION_STRING: 'endpoint=http://127.0.0.1:9/;accesskey=a2V5',
        AUTH_ISSUER: 'http://127.0.0.1:9',
        AUTH_AUDIENCE: 'api://x',
      },
      settingsDir: settingsDir(),
    });
    try {
      expect(dev.emulator).toBeUndefined();
      expect(dev.issuer).toBeUndefined();
      expect(dev.banner).toContain('with a token from your identity provider');
      expect(dev.banner).not.toContain('Development identity provider');
    } finally {
      await dev.close();
    }
  });
});

describe('npm start', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
  });

  it('serves the API with no settings, prints a working curl sequence, and stops cleanly on SIGTERM', async () => {
    child = spawn(TSX, [START], {
      cwd: settingsDir(),
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const banner = await new Promise<string>((resolve, reject) => {
      const check = () => {
        if (/curl -s -X POST http:\/\/localhost:\d+\/api\/token/.test(output)) resolve(output);
      };
      child?.stdout?.on('data', check);
      child?.once('exit', (code) => reject(new Error(`npm start exited with ${code}: ${output}`)));
    });

    const api = /listening on (http:\/\/localhost:\d+\/api)/.exec(banner)?.[1];
    const issuerToken =
      /curl -s -X POST (\S+\/token) -H 'Content-Type: application\/json' -d '(\{[^']+\})'/.exec(banner);
    expect(api).toBeDefined();
    expect(issuerToken).not.toBeNull();
    const localApi = api!.replace('localhost', '127.0.0.1');

    const minted = await fetch(issuerToken![1]!, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: issuerToken![2],
    });
    const { access_token: accessToken } = (await minted.json()) as { access_token: string };
    const tokenCall =
      /curl -s -X POST \S+\/api\/token -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application\/json' -d '(\{[^']+\})'/.exec(
        banner,
      );
    const response = await fetch(`${localApi}/token`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${accessToken}`, 'Content-Type': 'application/json' },
      body: tokenCall![1],
    });
    expect(response.status).toBe(200);
    expect(
      ((await response.json()) as { user: { communicationUserId: string } }).user.communicationUserId,
    ).toMatch(/^8:acs:/);
    expect((await fetch(`${localApi}/health`)).status).toBe(200);

    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    child = undefined;
  });
});
