import { z } from 'zod';
import { parseCliFlags } from '../cli-flags.js';
import { startEmulator } from './index.js';

const usage = `Usage: npm run emulator -- [options]

Starts a local emulator of the Azure Communication Services Identity API.

Options:
  --port N                     port to listen on (default 8871; 0 picks a free port)
  --host ADDRESS               address to bind (default 127.0.0.1)
  --access-key BASE64          access key for HMAC authentication (default: random)
  --resource-id GUID           resource GUID used in identity ids (default: random)
  --https                      serve HTTPS with a certificate from the emulator's CA (needed for Entra ID tokens)
  --tls-dir DIR                where the CA is kept (default .artifacts/emulator-tls)
  --user-assigned-client-id ID a user-assigned managed identity the emulated app has (repeatable)
  --latency-ms N               hold back every ACS API answer this long (the call itself is carried out first)
  --fail-rate R                share of ACS API calls (0..1) answered with --fail-status
  --fail-status 429|500|503    status of injected failures (default 503)
  --throttle                   enforce the service limits per 30 seconds
  -h, --help                   show this help`;

const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const integer = (min: number, max: number) =>
  z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(min).max(max));

const flagsSchema = z.object({
  port: integer(0, 65535).default(8871),
  host: z.string().min(1).optional(),
  'access-key': z
    .string()
    .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be base64')
    .optional(),
  'resource-id': z.string().regex(guid, 'must be a GUID').optional(),
  https: z.boolean().default(false),
  'tls-dir': z.string().min(1).optional(),
  'user-assigned-client-id': z.array(z.string().regex(guid, 'must be a GUID')).default([]),
  'latency-ms': integer(0, 60_000).optional(),
  'fail-rate': z
    .string()
    .regex(/^(0(\.\d+)?|1(\.0+)?|\.\d+)$/, 'must be a number between 0 and 1')
    .transform(Number)
    .optional(),
  'fail-status': z
    .enum(['429', '500', '503'])
    .transform((s) => Number(s) as 429 | 500 | 503)
    .optional(),
  throttle: z.boolean().default(false),
  help: z.boolean().default(false),
});

const flagOptions = {
  port: { type: 'string' },
  host: { type: 'string' },
  'access-key': { type: 'string' },
  'resource-id': { type: 'string' },
  https: { type: 'boolean' },
  'tls-dir': { type: 'string' },
  'user-assigned-client-id': { type: 'string', multiple: true },
  'latency-ms': { type: 'string' },
  'fail-rate': { type: 'string' },
  'fail-status': { type: 'string' },
  throttle: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const flags = parseCliFlags(process.argv.slice(2), flagOptions, flagsSchema, usage);

const emulator = await startEmulator({
  port: flags.port,
  host: flags.host,
  accessKey: flags['access-key'],
  resourceId: flags['resource-id'],
  https: flags.https,
  tlsDir: flags['tls-dir'],
  userAssignedClientIds: flags['user-assigned-client-id'],
  latencyMs: flags['latency-ms'],
  failRate: flags['fail-rate'],
  failStatus: flags['fail-status'],
  throttle: flags.throttle,
}).catch((error: unknown) => {
  // e.g. the port is taken: say so plainly instead of a stack trace.
  process.stderr.write(`The emulator could not start: ${(error as Error).message}\n`);
  process.exit(1);
});

// The emulator's whole purpose is to hand this connection string to a local developer, so it is printed.
console.log(`ACS Identity emulator listening: ${emulator.connectionString}`);
if (emulator.caCertPath) {
  console.log(`Trust its certificate with NODE_EXTRA_CA_CERTS=${emulator.caCertPath}`);
  console.log(
    `Managed identity: IDENTITY_ENDPOINT=${emulator.managedIdentity.endpoint} IDENTITY_HEADER=${emulator.managedIdentity.header}`,
  );
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    emulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
