/**
 * The npm scripts a developer runs before `func start`. Core Tools itself cannot run here; what it needs can:
 * - it builds only .NET and Go apps (Azure/azure-functions-core-tools, src/Cli/func/Actions/HostActions/
 *   StartHostAction.cs), so `start:func` builds first;
 * - AzureWebJobsStorage=UseDevelopmentStorage=true means Azurite's blob (10000), queue (10001) and table (10002)
 *   services, so `azurite` starts all three on those ports.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let scripts: Record<string, string>;
const children: ChildProcess[] = [];
const temporary: string[] = [];

beforeAll(async () => {
  scripts = JSON.parse(await readFile(path.resolve('package.json'), 'utf8')).scripts;
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all(temporary.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Starts a command and resolves with its output once every pattern has appeared (or rejects when it exits). */
async function startUntil(command: string, args: string[], patterns: RegExp[], cwd = process.cwd()) {
  const child = spawn(command, args, { cwd, env: { ...process.env, NODE_OPTIONS: '' } });
  children.push(child);
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const check = (chunk: Buffer) => {
      output += chunk.toString();
      if (patterns.every((pattern) => pattern.test(output))) resolve();
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', (code) =>
      reject(new Error(`${command} exited (${code}) before it was ready:\n${output}`)),
    );
  });
  return { child, output: () => output };
}

async function stop(child: ChildProcess) {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

describe('npm run start:func', () => {
  it('checks for Core Tools, then builds the bundle before Core Tools starts the host', () => {
    expect(scripts['start:func']).toBe('tsx scripts/require-func.ts && npm run build && func start');
  });

  /** The check run as the script runs it, with PATH holding only `directory`. */
  async function requireFunc(directory: string) {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/require-func.ts'], {
      env: { PATH: directory },
    });
    children.push(child);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const [code] = await once(child, 'exit');
    return { code, stderr };
  }

  it('names Core Tools and how to install it when func is not on PATH, before anything is built', async () => {
    const empty = await mkdtemp(path.join(tmpdir(), 'no-func-'));
    temporary.push(empty);
    const { code, stderr } = await requireFunc(empty);
    expect(code).toBe(1);
    expect(stderr).toContain('needs Azure Functions Core Tools (the `func` command), which is not on PATH');
    expect(stderr).toContain('npm install --global azure-functions-core-tools@4');
    expect(stderr).toContain('npm start');
  });

  it('passes when an executable func is on PATH', async () => {
    const withFunc = await mkdtemp(path.join(tmpdir(), 'func-'));
    temporary.push(withFunc);
    await writeFile(path.join(withFunc, 'func'), '#!/bin/sh\n', { mode: 0o755 });
    expect(await requireFunc(withFunc)).toEqual({ code: 0, stderr: '' });
  });
});

describe('npm run azurite', () => {
  it('starts blob, queue and table on the ports development storage names', () => {
    const args = scripts.azurite!.split(/\s+/);
    expect(args[0]).toBe('azurite');
    const port = (flag: string) => args[args.indexOf(flag) + 1];
    expect([port('--blobPort'), port('--queuePort'), port('--tablePort')]).toEqual([
      '10000',
      '10001',
      '10002',
    ]);
  });

  it('sends no telemetry and keeps its data on disk, so mappings outlive a restart', () => {
    const args = scripts.azurite!.split(/\s+/);
    expect(args).toContain('--disableTelemetry');
    expect(args).not.toContain('--inMemoryPersistence');
  });

  it('is the one way the docs and the service tell a developer to start Azurite', async () => {
    const texts = await Promise.all(
      [
        'README.md',
        ...(await readdir('docs')).map((name) => `docs/${name}`),
        'src/identities/unavailable-detail.ts',
      ]
        .filter((file) => /\.(md|ts)$/.test(file))
        .map(async (file) => ({ file, text: await readFile(file, 'utf8') })),
    );
    const npxAzurite = texts.filter(({ text }) => /npx azurite/.test(text)).map(({ file }) => file);
    expect(npxAzurite).toEqual([]);
  });

  it('runs with exactly those flags under the installed Azurite, all three services up', async () => {
    // The same flags with free ports and a scratch folder, so the check never takes the developer's ports.
    const args = scripts
      .azurite!.split(/\s+/)
      .slice(1)
      .map((arg, index, all) => (/^--(blob|queue|table)Port$/.test(all[index - 1] ?? '') ? '0' : arg));
    const location = await mkdtemp(path.join(tmpdir(), 'azurite-script-'));
    temporary.push(location);
    const { child, output } = await startUntil(
      path.resolve('node_modules/.bin/azurite'),
      [...args, '--location', location],
      [
        /Blob service is successfully listening/,
        /Queue service is successfully listening/,
        /Table service is successfully listening/,
      ],
    );
    expect(output()).not.toMatch(/error/i);
    await stop(child);
  }, 60_000);
});

describe('npm run dev-issuer', () => {
  it('serves the development identity provider on its own and prints the settings to point the service at it', async () => {
    expect(scripts['dev-issuer']).toBe('tsx dev/dev-issuer-cli.ts');
    const { child, output } = await startUntil(
      path.resolve('node_modules/.bin/tsx'),
      ['dev/dev-issuer-cli.ts', '--port', '0', '--audience', 'api://func-start'],
      [/AUTH_AUDIENCE=.*\n/],
    );
    const issuer = /AUTH_ISSUER=(\S+)/.exec(output())![1]!;
    expect(output()).toContain('AUTH_AUDIENCE=api://func-start');
    const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as {
      issuer: string;
    };
    expect(discovery.issuer).toBe(issuer);
    const minted = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'alice' }),
    });
    expect(minted.status).toBe(200);
    await stop(child);
  }, 60_000);

  it('refuses a bad flag with the usage, exit code 2', async () => {
    const child = spawn(path.resolve('node_modules/.bin/tsx'), ['dev/dev-issuer-cli.ts', '--port', 'x']);
    children.push(child);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const [code] = await once(child, 'exit');
    expect(code).toBe(2);
    expect(stderr).toContain('--port: must be a port number');
    expect(stderr).toContain('Usage: npm run dev-issuer');
  }, 60_000);
});
