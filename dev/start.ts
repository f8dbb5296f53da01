import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { loadSettings, type Settings, SettingsError, settingsSchema } from '../src/settings.js';
import { startTelemetry } from '../src/tracing/start.js';
import {
  type AzuriteTable,
  answersOn,
  DEVELOPMENT_STORAGE_TABLE_HOST,
  DEVELOPMENT_STORAGE_TABLE_PORT,
  startAzuriteTable,
  usesDevelopmentStorage,
} from './azurite.js';
import { parseCliFlags } from './cli-flags.js';
import { type DemoServer, demoBannerLine, startDemoServer } from './demo-server.js';
import { type DevIssuer, startDevIssuer } from './dev-issuer.js';
import { type RunningEmulator, startEmulator } from './emulator/index.js';
import { type LocalHost, startLocalHost } from './local-host.js';
import { banner, failedBox, invalidSettingsBox, type PortSetting, portTakenBox } from './start-messages.js';

const DEFAULT_PORT = 7071;
/** The admin role npm start turns the admin routes on with, when it runs the development identity provider. */
export const DEV_ADMIN_ROLE = 'Tokens.Admin';
const SETTINGS_FILE = 'local.settings.json';

const localSettingsSchema = z.object({
  IsEncrypted: z.boolean().optional(),
  Values: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).default({}),
});

/** `local.settings.json` Values from `dir`, as `func start` reads them; {} when the file is absent. */
export function readLocalSettings(dir: string): Record<string, string> {
  const file = path.join(dir, SETTINGS_FILE);
  if (!existsSync(file)) return {};
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    // JSON.parse's own message may quote the file, and with it a connection string.
    throw new Error(`${file} is not valid JSON`);
  }
  const parsed = localSettingsSchema.safeParse(json);
  if (!parsed.success)
    throw new Error(`${file} must be {"IsEncrypted": false, "Values": {"NAME": "value", ...}}`);
  if (parsed.data.IsEncrypted) throw new Error(`${file} is encrypted; decrypt it with func settings decrypt`);
  return parsed.data.Values;
}

/** A port that another process holds; its message names the setting that chose the port and how to pick another. */
export class PortTakenError extends Error {
  override readonly name = 'PortTakenError';
  constructor(
    readonly setting: PortSetting,
    readonly port: number,
  ) {
    super(portTakenBox(setting, port));
  }
}

/** Runs `start`, which listens on `port`, turning "address in use" into the setting to change. */
async function listening<T>(setting: PortSetting, port: number, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new PortTakenError(setting, port);
    throw error;
  }
}

export interface Development {
  /** The first instance of the service. */
  host: LocalHost;
  /** Every instance, the first included: they share the emulator, the identity provider and the store. */
  hosts: LocalHost[];
  emulator?: RunningEmulator;
  issuer?: DevIssuer;
  /** The browser demo (docs/running-locally.md), on its own origin; only with the development identity provider. */
  demo?: DemoServer;
  /** Azurite, when the settings ask for development storage and none was running. */
  azurite?: AzuriteTable;
  /** The ready-to-paste instructions printed at start-up, and a box naming each invalid setting if any. */
  banner: string;
  close(): Promise<void>;
}

function isSet(env: Record<string, string | undefined>, name: string) {
  return (env[name] ?? '').trim() !== '';
}

/** The settings, or the problems of each invalid one (names and reasons, never values). */
function validated(settings: Record<string, string | undefined>) {
  try {
    return { settings: loadSettings(settings) };
  } catch (error) {
    if (error instanceof SettingsError) return { problems: error.problems };
    throw error;
  }
}

function asksForDevelopmentStorage(settings: Settings | undefined): boolean {
  const store = settings?.store;
  return (
    store?.kind === 'table' &&
    store.connection.kind === 'connectionString' &&
    usesDevelopmentStorage(store.connection.connectionString)
  );
}

function describeStore(settings: Settings, azurite: AzuriteTable | undefined): string {
  const { store } = settings;
  if (store.kind === 'memory') return 'in memory (mappings are lost when npm start stops)';
  const where = `http://${DEVELOPMENT_STORAGE_TABLE_HOST}:${DEVELOPMENT_STORAGE_TABLE_PORT}`;
  if (azurite) return `Azure Table Storage on Azurite at ${where}, started by npm start, in memory`;
  if (asksForDevelopmentStorage(settings))
    return `Azure Table Storage on the Azurite already running at ${where}`;
  return `Azure Table Storage, table ${store.tableName}`;
}

/**
 * What `npm start` runs: the settings from local.settings.json overridden by the environment (as `func start`
 * does), an in-process ACS emulator when no ACS setting is given, a development identity provider when neither
 * AUTH_ISSUER nor AUTH_ISSUERS is given (in jwt mode), Azurite when the settings ask for development storage and
 * nothing answers on its port, and the local host on `port`.
 */
export async function startDevelopment(options: {
  port: number;
  env: Record<string, string | undefined>;
  settingsDir: string;
  /** The browser demo's port; default 0 (a free port). */
  demoPort?: number;
  /** The development identity provider's port; default 0 (a free port). */
  issuerPort?: number;
  /** How many instances of the service to run, as Azure scales out; default 1. */
  instances?: number;
}): Promise<Development> {
  const instances = options.instances ?? 1;
  const known = new Set<string>(Object.keys(settingsSchema.shape));
  const env: Record<string, string | undefined> = { ...readLocalSettings(options.settingsDir) };
  for (const [name, value] of Object.entries(options.env)) if (value !== undefined) env[name] = value;
  if (instances > 1) shareTheStore(env);

  const started: { close(): Promise<void> }[] = [];
  const stopAll = async () => {
    for (const piece of started.reverse()) await piece.close();
  };
  try {
    let emulator: RunningEmulator | undefined;
    if (
      !isSet(env, 'COMMUNICATION_SERVICES_CONNECTION_STRING') &&
      !isSet(env, 'COMMUNICATION_SERVICES_ENDPOINT')
    ) {
      emulator = await startEmulator();
      started.push(emulator);
      env.COMMUNICATION_SERVICES_CONNECTION_STRING = emulator.connectionString;
    }
    let issuer: DevIssuer | undefined;
    // AUTH_ISSUERS is used as given: the development provider is added to no list of issuers.
    if ((env.AUTH_MODE ?? 'jwt') === 'jwt' && !isSet(env, 'AUTH_ISSUER') && !isSet(env, 'AUTH_ISSUERS')) {
      issuer = await listening('DEV_ISSUER_PORT', options.issuerPort ?? 0, () =>
        startDevIssuer({ port: options.issuerPort ?? 0 }),
      );
      started.push(issuer);
      env.AUTH_ISSUER = issuer.issuer;
      env.AUTH_AUDIENCE = issuer.audience;
      // The development provider signs any role asked for, so the admin routes can be tried without setup.
      if (!isSet(env, 'AUTH_ADMIN_ROLE')) env.AUTH_ADMIN_ROLE = DEV_ADMIN_ROLE;
    }
    // The demo signs users in with the dev issuer and calls the service from another origin: CORS must allow it.
    let demo: DemoServer | undefined;
    let serviceUrl = '';
    if (issuer) {
      const issuerUrl = issuer.issuer;
      demo = await listening('DEMO_PORT', options.demoPort ?? 0, () =>
        startDemoServer({ port: options.demoPort ?? 0, serviceUrl: () => serviceUrl, issuerUrl }),
      );
      started.push(demo);
      if (!isSet(env, 'APP_CORS_ALLOWED_ORIGINS')) env.APP_CORS_ALLOWED_ORIGINS = demo.origins.join(',');
    }
    const settings = Object.fromEntries(Object.entries(env).filter(([name]) => known.has(name)));
    const checked = validated(settings);

    let azurite: AzuriteTable | undefined;
    if (
      asksForDevelopmentStorage(checked.settings) &&
      !(await answersOn(DEVELOPMENT_STORAGE_TABLE_HOST, DEVELOPMENT_STORAGE_TABLE_PORT))
    ) {
      const running = await startAzuriteTable(DEVELOPMENT_STORAGE_TABLE_PORT);
      azurite = running;
      started.push({ close: () => running.stop() });
    }

    // Before the hosts: closed after them (in reverse), so the last requests' spans are exported.
    const telemetry = await startTelemetry(settings);
    if (telemetry) started.push({ close: () => telemetry.shutdown() });

    const hosts: LocalHost[] = [];
    for (const port of instancePorts(options.port, instances)) {
      const host = await listening('PORT', port, () =>
        startLocalHost({ port, host: '127.0.0.1', env: settings }),
      );
      started.push(host);
      hosts.push(host);
    }
    const host = hosts[0]!;
    serviceUrl = `http://localhost:${host.port}`;

    const text = banner({
      api: `${serviceUrl}/api`,
      ...(hosts.length > 1 ? { instances: hosts.map(({ port }) => `http://localhost:${port}/api`) } : {}),
      ...(emulator ? { emulatorEndpoint: emulator.endpoint } : {}),
      ...(issuer ? { issuer: { url: issuer.issuer, audience: issuer.audience } } : {}),
      ...(demo ? { demoLine: demoBannerLine(demo, env.APP_CORS_ALLOWED_ORIGINS) } : {}),
      settings: checked.settings,
      ...(checked.settings ? { store: describeStore(checked.settings, azurite) } : {}),
      authMode: env.AUTH_MODE ?? 'jwt',
    });
    const settingsFile = existsSync(path.join(options.settingsDir, SETTINGS_FILE))
      ? SETTINGS_FILE
      : undefined;
    return {
      host,
      hosts,
      ...(emulator ? { emulator } : {}),
      ...(issuer ? { issuer } : {}),
      ...(demo ? { demo } : {}),
      ...(azurite ? { azurite } : {}),
      banner: checked.problems ? `${text}\n${invalidSettingsBox(checked.problems, settingsFile)}\n` : text,
      close: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * Instances must share one store, or each keeps its own mappings and a user gets one identity per instance: with no
 * storage setting they share development storage (Azurite, started once); the memory store cannot be shared.
 */
function shareTheStore(env: Record<string, string | undefined>): void {
  if ((env.IDENTITY_STORE ?? '').trim() === 'memory')
    throw new Error(
      '--instances needs a store they share: IDENTITY_STORE=memory gives each instance its own',
    );
  const storage = ['IDENTITY_STORE_CONNECTION_STRING', 'AzureWebJobsStorage', 'IDENTITY_STORE_ENDPOINT'];
  if (!storage.some((name) => isSet(env, name))) env.AzureWebJobsStorage = 'UseDevelopmentStorage=true';
}

/** The instances' ports: PORT, then PORT+10, PORT+20... (clear of the demo's and the provider's); all free with 0. */
export function instancePorts(port: number, instances: number): number[] {
  return Array.from({ length: instances }, (_, index) => (port === 0 ? 0 : port + 10 * index));
}

function portFrom(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return DEFAULT_PORT;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error('PORT must be an integer from 0 to 65535');
  return port;
}

/**
 * A companion server's port (the demo, the dev identity provider): the variable `name` if set, else the service's
 * port plus `offset` (7072, 7073), so the printed URLs stay the same from run to run; a free one when the service's
 * port is free too.
 */
function companionPortFrom(name: PortSetting, servicePort: number, offset: number): number {
  const value = process.env[name];
  if (value === undefined || value.trim() === '')
    return servicePort === 0 || servicePort + offset > 65535 ? 0 : servicePort + offset;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`${name} must be an integer from 0 to 65535`);
  return port;
}

/**
 * Calls `stop` once this process's parent is gone. `npm start` runs the script through `sh -c`, and npm forwards
 * SIGTERM to that shell only; Debian's sh (dash) dies of it without passing it on, so the servers would outlive
 * npm. A changed parent id is the one portable sign of that (the orphan is re-parented).
 */
function whenOrphaned(stop: () => void): void {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop();
  }, 500).unref();
}

const usage = `Usage: npm start -- [options]

Runs the service with everything it needs that is not configured (docs/running-locally.md).

Options:
  --instances N   run N instances of the service (default 1) on PORT, PORT+10, PORT+20...: one ACS emulator, one
                  identity provider and one store (Azurite, unless a storage setting names another) for all
  -h, --help      show this help`;

const flagsSchema = z.object({
  instances: z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(10))
    .default(1),
  help: z.boolean().default(false),
});

async function main() {
  const { instances } = parseCliFlags(
    process.argv.slice(2),
    { instances: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    flagsSchema,
    usage,
  );
  const port = portFrom(process.env.PORT);
  const starting = startDevelopment({
    port,
    instances,
    demoPort: companionPortFrom('DEMO_PORT', port, 1),
    issuerPort: companionPortFrom('DEV_ISSUER_PORT', port, 2),
    env: process.env,
    settingsDir: process.cwd(),
  });
  // Registered before anything listens, so a signal during start-up still stops what has started.
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= starting
      .then((dev) => dev.close())
      .catch(() => undefined)
      .finally(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  whenOrphaned(stop);

  const dev = await starting;
  if (!stopping) console.log(dev.banner);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    const message = error instanceof Error ? error.message : 'npm start failed';
    console.error(error instanceof PortTakenError ? message : failedBox(message));
    process.exit(1);
  });
}
