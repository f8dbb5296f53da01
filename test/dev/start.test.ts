import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import {
  answersOn,
  DEVELOPMENT_STORAGE_TABLE_HOST,
  DEVELOPMENT_STORAGE_TABLE_PORT,
} from '../../dev/azurite.js';
import {
  DEV_ADMIN_ROLE,
  instancePorts,
  PortTakenError,
  readLocalSettings,
  startDevelopment,
} from '../../dev/start.js';
import { DEVELOPMENT_ACCOUNT } from '../../src/tokens/sealing/development-key.js';
import { freePort, startAzurite } from '../support/azurite.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');
const START = path.join(ROOT, 'dev/start.ts');
/** Azurite's fixed development account, as in its documentation; not a secret. */
const DEV_STORAGE_KEY = DEVELOPMENT_ACCOUNT.key;

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

/** A child process's output as it comes, and a way to wait for a line of it. */
function watch(child: ChildProcess) {
  let output = '';
  const waiters: (() => void)[] = [];
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const waiter of waiters) waiter();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return {
    output: () => output,
    until: (pattern: RegExp) =>
      new Promise<string>((resolve, reject) => {
        const check = () => {
          if (pattern.test(output)) resolve(output);
        };
        waiters.push(check);
        check();
        child.once('exit', (code) => reject(new Error(`exited with ${code} before ${pattern}: ${output}`)));
      }),
  };
}

/** The commands the banner prints, read back so the test runs exactly what a person would paste. */
function bannerCommands(banner: string) {
  const mint = [
    ...banner.matchAll(
      /(\w+)=\$\(curl -s -X POST (\S+\/token) -H 'Content-Type: application\/json' -d '(\{[^']+\})'/g,
    ),
  ];
  const admin = [
    ...banner.matchAll(
      /curl -s -i -X (POST|DELETE) (\S+\/api\/admin\/users\/\S+) -H "Authorization: Bearer \$ADMIN_TOKEN"/g,
    ),
  ];
  return {
    mint: Object.fromEntries(mint.map((match) => [match[1]!, { url: match[2]!, body: match[3]! }])),
    admin: admin.map((match) => ({ method: match[1]!, url: match[2]! })),
  };
}

async function mint(command: { url: string; body: string }): Promise<string> {
  const response = await fetch(command.url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: command.body,
  });
  return ((await response.json()) as { access_token: string }).access_token;
}

function tokenRequest(api: string, token: string) {
  return fetch(`${api}/token`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: '{"scopes":["chat"]}',
  });
}

/** A box's text as one line: its borders dropped and wrapped lines joined, so a test does not depend on the width. */
function unboxed(text: string): string {
  return text.replace(/[│┌┐└┘─]/g, ' ').replace(/\s+/g, ' ');
}

async function occupy(): Promise<Server & { port: number }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return Object.assign(server, { port: (server.address() as { port: number }).port });
}

describe('readLocalSettings', () => {
  it('reads Values from local.settings.json, and nothing when it is absent', () => {
    expect(readLocalSettings(settingsDir({ AUTH_MODE: 'jwt' }))).toEqual({ AUTH_MODE: 'jwt' });
    expect(readLocalSettings(settingsDir())).toEqual({});
  });

  it('names the file, not its content, when it is not JSON', () => {
    const dir = settingsDir();
    writeFileSync(
      path.join(dir, 'local.settings.json'),
      '{"Values": {"X": "endpoint=https://a/;accesskey=c2VjcmV0"},}',
    );
    expect(() => readLocalSettings(dir)).toThrow(
      `${path.join(dir, 'local.settings.json')} is not valid JSON`,
    );
    expect(() => readLocalSettings(dir)).not.toThrow(/c2VjcmV0/);
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
      expect(dev.azurite).toBeUndefined();
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
      expect(dev.banner).toContain('Identity store: in memory');
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
      expect(dev.banner).not.toContain('admin routes');
    } finally {
      await dev.close();
    }
  });

  it('uses AUTH_ISSUERS as given: no development identity provider is started or added to the list', async () => {
    const issuers = [
      { issuer: 'https://login.microsoftonline.com/{tenantid}/v2.0', audience: 'api://x', tenants: ['*'] },
      { issuer: 'https://contoso.eu.auth0.com/', audience: 'https://tokens.contoso.com', userClaim: 'sub' },
    ];
    const dev = await startDevelopment({
      port: 0,
      env: { AUTH_ISSUERS: JSON.stringify(issuers) },
      settingsDir: settingsDir(),
    });
    try {
      expect(dev.issuer).toBeUndefined();
      expect(dev.demo).toBeUndefined();
      const state = dev.host.services;
      if (!state.ready) throw new Error(`invalid settings: ${state.settingNames.join(', ')}`);
      const { auth } = state.services.settings;
      expect(auth.mode === 'jwt' && auth.issuers.map(({ issuer }) => issuer)).toEqual(
        issuers.map(({ issuer }) => issuer),
      );
    } finally {
      await dev.close();
    }
  });

  it('prints admin commands that work as pasted: no token to decode to find a user id', async () => {
    const dev = await startDevelopment({ port: 0, env: {}, settingsDir: settingsDir() });
    try {
      const api = `http://127.0.0.1:${dev.host.port}/api`;
      const commands = bannerCommands(dev.banner);
      expect(Object.keys(commands.mint).sort()).toEqual(['ADMIN_TOKEN', 'TOKEN']);
      expect(commands.mint.ADMIN_TOKEN!.body).toContain(DEV_ADMIN_ROLE);
      expect(commands.admin.map(({ method }) => method)).toEqual(['POST', 'DELETE']);

      const alice = await mint(commands.mint.TOKEN!);
      expect((await tokenRequest(api, alice)).status).toBe(200);
      const admin = await mint(commands.mint.ADMIN_TOKEN!);
      for (const { method, url } of commands.admin) {
        const response = await fetch(url, { method, headers: { Authorization: `Bearer ${admin}` } });
        expect(response.status, `${method} ${url}`).toBe(204);
      }
      // The DELETE erased alice's identity: the printed id was hers.
      expect((await fetch(`${api}/identity`, { headers: { Authorization: `Bearer ${alice}` } })).status).toBe(
        404,
      );
    } finally {
      await dev.close();
    }
  });

  it('keeps an AUTH_ADMIN_ROLE that is set, and prints commands for it', async () => {
    const dev = await startDevelopment({
      port: 0,
      env: { AUTH_ADMIN_ROLE: 'Operators' },
      settingsDir: settingsDir(),
    });
    try {
      expect(dev.host.services.ready && dev.host.services.services.settings.adminRole).toBe('Operators');
      expect(bannerCommands(dev.banner).mint.ADMIN_TOKEN?.body).toBe(
        '{"user":"admin","roles":["Operators"]}',
      );
    } finally {
      await dev.close();
    }
  });

  it('names each invalid setting and why in a box, never a value, and the service answers 503', async () => {
    const dev = await startDevelopment({
      port: 0,
      env: { TOKEN_ALLOWED_SCOPES: 'chat,Hunter2Scope', RATE_LIMIT_PER_MINUTE: '7777777' },
      settingsDir: settingsDir(),
    });
    try {
      expect(dev.banner).toMatch(/┌─ The settings are invalid ─+┐/);
      expect(unboxed(dev.banner)).toContain('TOKEN_ALLOWED_SCOPES must list only ACS scopes');
      expect(unboxed(dev.banner)).toContain('RATE_LIMIT_PER_MINUTE must be an integer from 1 to 100000');
      expect(dev.banner).toContain('docs/settings.md');
      expect(dev.banner).not.toMatch(/Hunter2Scope|7777777/);
      expect(dev.banner).not.toContain('Try it');
      const health = await fetch(`http://127.0.0.1:${dev.host.port}/api/health`);
      expect(health.status).toBe(503);
      expect(((await health.json()) as { type: string }).type).toMatch(/misconfigured$/);
    } finally {
      await dev.close();
    }
  });

  it.each([
    ['DEMO_PORT', 'demoPort'],
    ['DEV_ISSUER_PORT', 'issuerPort'],
  ] as const)('names %s when its port is taken', async (setting, option) => {
    const taken = await occupy();
    try {
      const starting = startDevelopment({
        port: 0,
        env: {},
        settingsDir: settingsDir(),
        [option]: taken.port,
      });
      const error = await starting.then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error).toBeInstanceOf(PortTakenError);
      const message = unboxed((error as PortTakenError).message);
      expect(message).toContain(`cannot listen on 127.0.0.1:${taken.port} (${setting})`);
      expect(message).toContain(`set ${setting} to a free port`);
    } finally {
      taken.close();
    }
  });
});

describe('instancePorts', () => {
  it('puts instances ten ports apart, clear of the demo (PORT+1) and the identity provider (PORT+2)', () => {
    expect(instancePorts(7071, 3)).toEqual([7071, 7081, 7091]);
    expect(instancePorts(0, 2)).toEqual([0, 0]);
  });
});

describe('npm start with development storage', () => {
  it('starts Azurite when nothing answers on 127.0.0.1:10002, keeps the mappings there, and stops it on close', async () => {
    expect(
      await answersOn(DEVELOPMENT_STORAGE_TABLE_HOST, DEVELOPMENT_STORAGE_TABLE_PORT),
      'this test needs port 10002 free',
    ).toBe(false);
    // local.settings.sample.json, copied as the func start instructions say.
    const sample = JSON.parse(readFileSync(path.join(ROOT, 'local.settings.sample.json'), 'utf8')) as {
      Values: Record<string, string>;
    };
    const dev = await startDevelopment({ port: 0, env: {}, settingsDir: settingsDir(sample.Values) });
    try {
      expect(dev.azurite?.port).toBe(DEVELOPMENT_STORAGE_TABLE_PORT);
      expect(dev.banner).toContain(
        'Azure Table Storage on Azurite at http://127.0.0.1:10002, started by npm start',
      );
      expect(dev.host.services.ready && dev.host.services.services.settings.store.kind).toBe('table');
      const api = `http://127.0.0.1:${dev.host.port}/api`;
      expect((await fetch(`${api}/health`)).status).toBe(200);
      const alice = await mint(bannerCommands(dev.banner).mint.TOKEN!);
      expect((await tokenRequest(api, alice)).status).toBe(200);
    } finally {
      await dev.close();
    }
    expect(await answersOn(DEVELOPMENT_STORAGE_TABLE_HOST, DEVELOPMENT_STORAGE_TABLE_PORT)).toBe(false);
  });

  it('uses the Azurite already running there instead of starting another', async () => {
    const azurite = await startAzurite({ port: DEVELOPMENT_STORAGE_TABLE_PORT });
    try {
      const dev = await startDevelopment({
        port: 0,
        env: { AzureWebJobsStorage: 'UseDevelopmentStorage=true' },
        settingsDir: settingsDir(),
      });
      try {
        expect(dev.azurite).toBeUndefined();
        expect(dev.banner).toContain('on the Azurite already running at http://127.0.0.1:10002');
        expect((await fetch(`http://127.0.0.1:${dev.host.port}/api/health`)).status).toBe(200);
      } finally {
        await dev.close();
      }
      expect(await answersOn(DEVELOPMENT_STORAGE_TABLE_HOST, DEVELOPMENT_STORAGE_TABLE_PORT)).toBe(true);
    } finally {
      await azurite.stop();
    }
  });

  it('with several instances and no storage setting, shares development storage (one Azurite) instead of memory', async () => {
    expect(
      await answersOn(DEVELOPMENT_STORAGE_TABLE_HOST, DEVELOPMENT_STORAGE_TABLE_PORT),
      'this test needs port 10002 free',
    ).toBe(false);
    const dev = await startDevelopment({ port: 0, instances: 2, env: {}, settingsDir: settingsDir() });
    try {
      expect(dev.azurite?.port).toBe(DEVELOPMENT_STORAGE_TABLE_PORT);
      expect(dev.hosts).toHaveLength(2);
      for (const host of dev.hosts)
        expect(host.services.ready && host.services.services.settings.store.kind).toBe('table');
    } finally {
      await dev.close();
    }
    await expect(
      startDevelopment({
        port: 0,
        instances: 2,
        env: { IDENTITY_STORE: 'memory' },
        settingsDir: settingsDir(),
      }),
    ).rejects.toThrow('IDENTITY_STORE=memory gives each instance its own');
  });

  it('answers a 503 naming the local store and that Azurite is expected, when a loopback store does not answer', async () => {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}/devstoreaccount1`;
    const dev = await startDevelopment({
      port: 0,
      env: {
        IDENTITY_STORE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${DEV_STORAGE_KEY};TableEndpoint=${endpoint};`,
      },
      settingsDir: settingsDir(),
    });
    try {
      expect(dev.azurite).toBeUndefined();
      const api = `http://127.0.0.1:${dev.host.port}/api`;
      const alice = await mint(bannerCommands(dev.banner).mint.TOKEN!);
      for (const response of [await fetch(`${api}/health`), await tokenRequest(api, alice)]) {
        expect(response.status).toBe(503);
        const { detail } = (await response.json()) as { detail: string };
        expect(detail).toContain(
          `The identity store (Azure Table Storage at ${endpoint}, table AcsIdentities)`,
        );
        expect(detail).toContain('Azurite is expected there');
        expect(detail).not.toContain(DEV_STORAGE_KEY);
      }
    } finally {
      await dev.close();
    }
  });
});

describe('npm start', () => {
  const children: ChildProcess[] = [];
  // Each child leads a process group of its own, so a failed test still kills the servers it started.
  afterEach(() => {
    for (const child of children.splice(0)) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  });
  const start = (command: string, args: string[], options: { cwd: string; env: Record<string, string> }) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    children.push(child);
    return child;
  };

  it('serves the API with no settings, prints a working curl sequence, and stops cleanly on SIGTERM', async () => {
    const child = start(TSX, [START], { cwd: settingsDir(), env: { PORT: '0' } });
    const banner = await watch(child).until(/curl -s -X POST http:\/\/localhost:\d+\/api\/token/);

    const api = /listening on (http:\/\/localhost:\d+\/api)/.exec(banner)?.[1];
    expect(api).toBeDefined();
    const localApi = api!.replace('localhost', '127.0.0.1');
    const tokenCall =
      /curl -s -X POST \S+\/api\/token -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application\/json' -d '(\{[^']+\})'/.exec(
        banner,
      );
    const response = await fetch(`${localApi}/token`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${await mint(bannerCommands(banner).mint.TOKEN!)}`,
        'Content-Type': 'application/json',
      },
      body: tokenCall![1],
    });
    expect(response.status).toBe(200);
    expect(
      ((await response.json()) as { user: { communicationUserId: string } }).user.communicationUserId,
    ).toMatch(/^8:acs:/);
    expect((await fetch(`${localApi}/health`)).status).toBe(200);

    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    expect((await exited)[0]).toBe(0);
  });

  it('stops every server when npm passes SIGTERM to the shell that runs the script (which does not pass it on)', async () => {
    const script = (
      JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }
    ).scripts.start;
    expect(script).toBe('node --import tsx dev/start.ts');
    // npm runs the script with sh -c in the package directory; here the directory holds only node_modules, so no
    // developer's local.settings.json is read.
    const dir = settingsDir();
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
    const shell = start('sh', ['-c', script.replace('dev/start.ts', START)], {
      cwd: dir,
      env: { PORT: '0' },
    });
    const banner = await watch(shell).until(/Try the admin routes/);
    const ports = [...banner.matchAll(/http:\/\/(?:localhost|127\.0\.0\.1):(\d+)/g)].map((match) =>
      Number(match[1]),
    );
    expect(new Set(ports).size).toBeGreaterThanOrEqual(4); // the service, the emulator, the issuer, the demo
    for (const port of new Set(ports)) expect(await answersOn('127.0.0.1', port)).toBe(true);

    const exited = once(shell, 'exit');
    shell.kill('SIGTERM');
    await exited;
    await expect
      .poll(
        async () =>
          (await Promise.all([...new Set(ports)].map((port) => answersOn('127.0.0.1', port)))).some(Boolean),
        {
          timeout: 5_000,
          interval: 200,
        },
      )
      .toBe(false);
  });

  it('--instances 2 runs two instances on one emulator and one store: alice has one identity and one token on both', async () => {
    // The run's Azurite, a table of this test's own: one Azurite start less on a busy machine.
    const child = start(TSX, [START, '--instances', '2'], {
      cwd: settingsDir(),
      env: {
        PORT: '0',
        IDENTITY_STORE_CONNECTION_STRING: inject('azuriteConnectionString'),
        IDENTITY_TABLE_NAME: `Instances${Date.now()}`,
      },
    });
    const banner = await watch(child).until(/Try the admin routes/);
    const apis = /2 instances, one emulator and one store: (.+)/
      .exec(banner)![1]!
      .trim()
      .split(/\s+/)
      .map((api) => api.replace('localhost', '127.0.0.1'));
    expect(new Set(apis).size).toBe(2);
    const alice = await mint(bannerCommands(banner).mint.TOKEN!);
    const answers = [];
    for (const api of apis) {
      const response = await tokenRequest(api, alice);
      expect(response.status).toBe(200);
      answers.push((await response.json()) as { user: { communicationUserId: string }; token: string });
    }
    expect(new Set(answers.map((answer) => answer.user.communicationUserId)).size).toBe(1);
    // The token the first instance issued, handed back by the other: they read one row in one store.
    expect(new Set(answers.map((answer) => answer.token)).size).toBe(1);
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    expect((await exited)[0]).toBe(0);
  });

  it('refuses a bad --instances with the usage, exit code 2', async () => {
    const child = start(TSX, [START, '--instances', 'many'], { cwd: settingsDir(), env: { PORT: '0' } });
    const output = watch(child);
    const [code] = await once(child, 'exit');
    expect(code).toBe(2);
    expect(output.output()).toContain('--instances: must be a whole number');
    expect(output.output()).toContain('Usage: npm start -- [options]');
  });

  it('names the PORT setting when the port is taken, and exits', async () => {
    const taken = await occupy();
    try {
      // The demo and the identity provider get ports of their own: PORT+1 and PORT+2 may belong to anyone here.
      const companions = { DEMO_PORT: String(await freePort()), DEV_ISSUER_PORT: String(await freePort()) };
      const child = start(TSX, [START], {
        cwd: settingsDir(),
        env: { PORT: String(taken.port), ...companions },
      });
      const output = watch(child);
      const [code] = await once(child, 'exit');
      expect(code).toBe(1);
      const printed = unboxed(output.output());
      expect(printed).toContain(`Port ${taken.port} is taken`);
      expect(printed).toContain(`The service cannot listen on 127.0.0.1:${taken.port} (PORT)`);
      expect(printed).toContain('PORT=8071 npm start');
      expect(printed).not.toContain('EADDRINUSE');
    } finally {
      taken.close();
    }
  });
});
