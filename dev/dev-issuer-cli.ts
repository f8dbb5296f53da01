import { z } from 'zod';
import { parseCliFlags } from './cli-flags.js';
import { DEFAULT_DEV_AUDIENCE, startDevIssuer } from './dev-issuer.js';

const usage = `Usage: npm run dev-issuer -- [options]

Starts the development identity provider on its own: OpenID discovery, a JWKS, and POST /token to get a user's
bearer token. Point the service at it (AUTH_ISSUER, AUTH_AUDIENCE), e.g. for \`func start\`. It signs whatever it is
asked to: never expose it beyond this machine.

Options:
  --port N           port to listen on (default 7073; 0 picks a free port)
  --host ADDRESS     address to bind (default 127.0.0.1)
  --audience VALUE   the aud of the tokens it mints (default ${DEFAULT_DEV_AUDIENCE})
  -h, --help         show this help`;

const flagsSchema = z.object({
  port: z
    .string()
    .regex(/^\d+$/, 'must be a port number')
    .transform(Number)
    .pipe(z.number().int().min(0).max(65535))
    .default(7073),
  host: z.string().min(1).default('127.0.0.1'),
  audience: z.string().min(1).default(DEFAULT_DEV_AUDIENCE),
  help: z.boolean().default(false),
});

const flagOptions = {
  port: { type: 'string' },
  host: { type: 'string' },
  audience: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const flags = parseCliFlags(process.argv.slice(2), flagOptions, flagsSchema, usage);

const issuer = await startDevIssuer({ port: flags.port, host: flags.host, audience: flags.audience }).catch(
  (error: unknown) => {
    // e.g. the port is taken: say so plainly instead of a stack trace.
    process.stderr.write(`The development identity provider could not start: ${(error as Error).message}\n`);
    process.exit(1);
  },
);

console.log(`Development identity provider listening: ${issuer.issuer}`);
console.log(`  AUTH_ISSUER=${issuer.issuer}`);
console.log(`  AUTH_AUDIENCE=${issuer.audience}`);
console.log(
  `  A token for alice: curl -s -X POST ${issuer.issuer}/token -H 'Content-Type: application/json' -d '{"user":"alice"}'`,
);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void issuer.close().finally(() => process.exit(0));
  });
}
