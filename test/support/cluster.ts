import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { inject } from 'vitest';
import { type DevClaims, type DevIssuer, devUserIds, startDevIssuer } from '../../dev/dev-issuer.js';
import { type EmulatorOptions, type RunningEmulator, startEmulator } from '../../dev/emulator/index.js';
import type { Stats } from '../../dev/emulator/state.js';
import { emulatorAdmin, type Introspection, postToken } from './emulator-admin.js';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

/** One instance of the service: its own process (dev/local-host-cli.ts), as a Function App instance is. */
export interface Instance {
  readonly name: string;
  readonly url: string;
  readonly process: ChildProcess;
  /** Ends the process as the platform does when it scales in (SIGTERM: drain) or when it dies (SIGKILL). */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<number | null>;
}

export interface Cluster {
  instances: Instance[];
  emulator: RunningEmulator;
  issuer: DevIssuer;
  /** The settings every instance shares: one ACS resource, one issuer, one identity table. */
  env: Record<string, string>;
  /** A caller token for a user name (stable oid per name). */
  tokenFor(user: string, claims?: DevClaims): Promise<string>;
  /** POST /api/token as `user` on `instance`. */
  requestToken(instance: Instance, user: string, body?: unknown): Promise<Response>;
  /** The same, its answer read: the status, and the token and identity of a 200. */
  tokenAnswer(instance: Instance, user: string): Promise<TokenAnswer>;
  emulatorStats(): Promise<Stats>;
  introspect(token: string): Promise<Introspection>;
  /** Starts one more instance with the shared settings (plus `extra`). */
  addInstance(extra?: Record<string, string>): Promise<Instance>;
  close(): Promise<void>;
}

export interface TokenAnswer {
  status: number;
  communicationUserId?: string;
  token?: string;
}

export interface ClusterOptions {
  size: number;
  /** Settings on top of the shared ones. */
  env?: Record<string, string>;
  emulator?: EmulatorOptions;
}

/**
 * A local deployment: `size` service processes sharing one Azurite table (the run's), one ACS emulator and one dev
 * issuer, each started like a Function App instance from nothing but its app settings.
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const emulator = await startEmulator(options.emulator);
  const issuer = await startDevIssuer();
  const env: Record<string, string> = {
    COMMUNICATION_SERVICES_CONNECTION_STRING: emulator.connectionString,
    AUTH_ISSUER: issuer.issuer,
    AUTH_AUDIENCE: issuer.audience,
    IDENTITY_STORE: 'table',
    IDENTITY_STORE_CONNECTION_STRING: inject('azuriteConnectionString'),
    IDENTITY_TABLE_NAME: `Cluster${randomUUID().replaceAll('-', '').slice(0, 20)}`,
    ...options.env,
  };
  const instances: Instance[] = [];
  const addInstance = async (extra: Record<string, string> = {}) => {
    const instance = await startInstance(`instance-${instances.length}`, { ...env, ...extra });
    instances.push(instance);
    return instance;
  };
  try {
    await Promise.all(Array.from({ length: options.size }, () => addInstance()));
  } catch (error) {
    await Promise.all(instances.map((instance) => instance.stop('SIGKILL')));
    await issuer.close();
    await emulator.close();
    throw error;
  }

  const tokenFor = (user: string, claims: DevClaims = {}) =>
    issuer.mint({ ...devUserIds(user), name: user, ...claims });
  const acs = emulatorAdmin(emulator);

  return {
    instances,
    emulator,
    issuer,
    env,
    tokenFor,
    requestToken: async (instance, user, body) => postToken(instance.url, await tokenFor(user), body),
    async tokenAnswer(instance, user) {
      const response = await postToken(instance.url, await tokenFor(user));
      if (response.status !== 200) {
        await response.arrayBuffer();
        return { status: response.status };
      }
      const body = (await response.json()) as { user: { communicationUserId: string }; token: string };
      return { status: 200, communicationUserId: body.user.communicationUserId, token: body.token };
    },
    emulatorStats: acs.stats,
    introspect: acs.introspect,
    addInstance,
    async close() {
      await Promise.all(instances.map((instance) => instance.stop('SIGKILL')));
      await issuer.close();
      await emulator.close();
    },
  };
}

async function startInstance(name: string, env: Record<string, string>): Promise<Instance> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'dev/local-host-cli.ts'], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout! });
  // Until it says it listens or exits: no clock of its own, the test's timeout bounds a hang.
  const url = await new Promise<string>((resolve, reject) => {
    const fail = (reason: string) => {
      child.kill('SIGKILL');
      reject(new Error(`${name} failed: ${reason}\n${stderr}`));
    };
    child.once('exit', (code) => fail(`exited with ${code}`));
    lines.on('line', (line) => {
      if (!line.startsWith('{"event":"listening"')) return;
      child.removeAllListeners('exit');
      resolve((JSON.parse(line) as { url: string }).url);
    });
  });
  // The instance logs a line per request; read and drop them so its stdout never blocks.
  lines.on('line', () => {});

  return {
    name,
    url,
    process: child,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
      child.kill(signal);
      const [code] = await exited;
      return code;
    },
  };
}
