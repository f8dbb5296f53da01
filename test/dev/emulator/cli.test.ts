import { type ChildProcess, spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import path from 'node:path';
import { CommunicationIdentityClient } from '@azure/communication-identity';
import { afterEach, describe, expect, inject, it } from 'vitest';

const tsx = path.resolve('node_modules/.bin/tsx');
const cli = path.resolve('dev/emulator/cli.ts');
const children: ChildProcess[] = [];

function start(args: string[]): ChildProcess {
  const child = spawn(tsx, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return child;
}

/** Collects stdout until `lines` lines arrived. */
function firstLines(child: ChildProcess, lines: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      output += chunk;
      const complete = output.split('\n').slice(0, -1);
      if (complete.length >= lines) resolve(complete.slice(0, lines));
    });
    child.once('exit', (code) => reject(new Error(`the emulator exited with ${code} before printing`)));
  });
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
}

afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

describe('npm run emulator', () => {
  it('prints one line with the connection string, serves the SDK through it, and stops on SIGTERM', async () => {
    const child = start(['--port', '0', '--access-key', Buffer.alloc(32, 3).toString('base64')]);
    const exited = exitOf(child);
    const [line] = await firstLines(child, 1);
    const connectionString = /endpoint=http:\/\/127\.0\.0\.1:\d+\/;accesskey=\S+/.exec(line ?? '')?.[0];
    expect(connectionString).toBe(
      `endpoint=${/endpoint=(\S+);/.exec(line ?? '')?.[1]};accesskey=${Buffer.alloc(32, 3).toString('base64')}`,
    );
    const client = new CommunicationIdentityClient(connectionString!, { allowInsecureConnection: true });
    expect((await client.createUser()).communicationUserId).toMatch(/^8:acs:/);
    child.kill('SIGTERM');
    expect((await exited).code).toBe(0);
  });

  it('with --https, tells where the CA is and the managed identity settings', async () => {
    const tlsDir = path.dirname(inject('emulatorCaCertPath'));
    const child = start(['--port', '0', '--https', '--tls-dir', tlsDir]);
    const exited = exitOf(child);
    const lines = await firstLines(child, 3);
    expect(lines[0]).toMatch(/endpoint=https:\/\/127\.0\.0\.1:\d+\/;accesskey=/);
    expect(lines[1]).toContain(`NODE_EXTRA_CA_CERTS=${inject('emulatorCaCertPath')}`);
    expect(lines[2]).toMatch(
      /IDENTITY_ENDPOINT=https:\/\/127\.0\.0\.1:\d+\/msi\/token IDENTITY_HEADER=[0-9a-f]+/,
    );
    child.kill('SIGINT');
    expect((await exited).code).toBe(0);
  });

  it('says plainly that it could not start when the port is taken, and exits 1', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = blocker.address() as AddressInfo;
      const { code, stderr } = await exitOf(start(['--port', String(port)]));
      expect(code).toBe(1);
      expect(stderr).toContain('The emulator could not start: listen EADDRINUSE');
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('refuses bad flags with a usage message and exit code 2', async () => {
    const badFlags = [
      ['--bogus'],
      ['--port', 'eighty'],
      ['--fail-rate', '2'],
      ['--fail-status', '404'],
      ['--resource-id', 'not-a-guid'],
      ['--access-key', 'not base64!'],
      ['stray-positional'],
    ];
    const outcomes = await Promise.all(badFlags.map((args) => exitOf(start(args))));
    for (const { code, stderr } of outcomes) {
      expect(code).toBe(2);
      expect(stderr).toContain('Usage: npm run emulator -- [options]');
    }
  });
});
