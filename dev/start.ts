import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { settingsSchema } from '../src/settings.js';
import { type DemoServer, demoBannerLine, startDemoServer } from './demo-server.js';
import { type DevIssuer, startDevIssuer } from './dev-issuer.js';
import { type RunningEmulator, startEmulator } from './emulator/index.js';
import { type LocalHost, startLocalHost } from './local-host.js';

const DEFAULT_PORT = 7071;

const localSettingsSchema = z.object({
  IsEncrypted: z.boolean().optional(),
  Values: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).default({}),
});

/** `local.settings.json` Values from `dir`, as `func start` reads them; {} when the file is absent. */
export function readLocalSettings(dir: string): Record<string, string> {
  const file = path.join(dir, 'local.settings.json');
  if (!existsSync(file)) return {};
  const parsed = localSettingsSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success)
    throw new Error(`${file} must be {"IsEncrypted": false, "Values": {"NAME": "value", ...}}`);
  if (parsed.data.IsEncrypted) throw new Error(`${file} is encrypted; decrypt it with func settings decrypt`);
  return parsed.data.Values;
}

export interface Development {
  host: LocalHost;
  emulator?: RunningEmulator;
  issuer?: DevIssuer;
  /** The browser demo (README, "Try it in a browser"), on its own origin; only with the development identity provider. */
  demo?: DemoServer;
  /** The ready-to-paste instructions printed at start-up. */
  banner: string;
  close(): Promise<void>;
}

function isSet(env: Record<string, string | undefined>, name: string) {
  return (env[name] ?? '').trim() !== '';
}

function bannerFor(
  dev: Omit<Development, 'banner' | 'close'>,
  env: Record<string, string | undefined>,
): string {
  const api = `http://localhost:${dev.host.port}/api`;
  const lines = [
    '',
    `ACS token service listening on ${api}`,
    `  POST ${api}/token    GET ${api}/token?scopes=chat,voip    GET ${api}/health`,
    dev.emulator
      ? `  ACS emulator (in-process, no Azure account): ${dev.emulator.endpoint}`
      : '  ACS: the configured Communication Services resource',
    dev.issuer
      ? `  Development identity provider: ${dev.issuer.issuer} (audience ${dev.issuer.audience})`
      : `  Caller validation: AUTH_MODE=${env.AUTH_MODE ?? 'jwt'}`,
    ...(dev.demo ? [demoBannerLine(dev.demo, env.CORS_ALLOWED_ORIGINS)] : []),
    `  Identity store: ${dev.host.services.ready ? dev.host.services.services.settings.store.kind : 'unavailable (see the settings error above)'}`,
    '',
  ];
  if (dev.issuer) {
    lines.push(
      'Try it:',
      `  TOKEN=$(curl -s -X POST ${dev.issuer.issuer}/token -H 'Content-Type: application/json' -d '{"user":"alice"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')`,
      `  curl -s -X POST ${api}/token -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"scopes":["chat","voip"]}'`,
      '',
    );
  } else {
    lines.push(
      'Try it (with a token from your identity provider):',
      `  curl -s -X POST ${api}/token -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"scopes":["chat","voip"]}'`,
      '',
    );
  }
  return lines.join('\n');
}

/**
 * What `npm start` runs: the settings from local.settings.json overridden by the environment (as `func start`
 * does), an in-process ACS emulator when no ACS setting is given, a development identity provider when no
 * AUTH_ISSUER is given (in jwt mode), and the local host on `port`.
 */
export async function startDevelopment(options: {
  port: number;
  env: Record<string, string | undefined>;
  settingsDir: string;
  /** The browser demo's port; default 0 (a free port). */
  demoPort?: number;
  /** The development identity provider's port; default 0 (a free port). */
  issuerPort?: number;
}): Promise<Development> {
  const known = new Set<string>(Object.keys(settingsSchema.shape));
  const env: Record<string, string | undefined> = { ...readLocalSettings(options.settingsDir) };
  for (const [name, value] of Object.entries(options.env)) if (value !== undefined) env[name] = value;

  const started: { close(): Promise<void> }[] = [];
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
    if ((env.AUTH_MODE ?? 'jwt') === 'jwt' && !isSet(env, 'AUTH_ISSUER')) {
      issuer = await startDevIssuer({ port: options.issuerPort ?? 0 });
      started.push(issuer);
      env.AUTH_ISSUER = issuer.issuer;
      env.AUTH_AUDIENCE = issuer.audience;
    }
    // The demo signs users in with the dev issuer and calls the service from another origin: CORS must allow it.
    let demo: DemoServer | undefined;
    let serviceUrl = '';
    if (issuer) {
      demo = await startDemoServer({
        port: options.demoPort ?? 0,
        serviceUrl: () => serviceUrl,
        issuerUrl: issuer.issuer,
      });
      started.push(demo);
      if (!isSet(env, 'CORS_ALLOWED_ORIGINS')) env.CORS_ALLOWED_ORIGINS = demo.origins.join(',');
    }
    const settings = Object.fromEntries(Object.entries(env).filter(([name]) => known.has(name)));
    const host = await startLocalHost({ port: options.port, host: '127.0.0.1', env: settings });
    started.push(host);
    serviceUrl = `http://localhost:${host.port}`;
    const parts = {
      host,
      ...(emulator ? { emulator } : {}),
      ...(issuer ? { issuer } : {}),
      ...(demo ? { demo } : {}),
    };
    return {
      ...parts,
      banner: bannerFor(parts, env),
      close: async () => {
        for (const piece of started.reverse()) await piece.close();
      },
    };
  } catch (error) {
    for (const piece of started.reverse()) await piece.close();
    throw error;
  }
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
function companionPortFrom(name: string, servicePort: number, offset: number): number {
  const value = process.env[name];
  if (value === undefined || value.trim() === '')
    return servicePort === 0 || servicePort + offset > 65535 ? 0 : servicePort + offset;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`${name} must be an integer from 0 to 65535`);
  return port;
}

async function main() {
  const port = portFrom(process.env.PORT);
  const dev = await startDevelopment({
    port,
    demoPort: companionPortFrom('DEMO_PORT', port, 1),
    issuerPort: companionPortFrom('DEV_ISSUER_PORT', port, 2),
    env: process.env,
    settingsDir: process.cwd(),
  });
  console.log(dev.banner);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await dev.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : 'npm start failed');
    process.exit(1);
  });
}
