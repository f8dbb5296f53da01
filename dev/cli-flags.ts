import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { z } from 'zod';

/**
 * The command-line flags of a development command, parsed by node:util and validated by `schema`: an unknown flag
 * or a bad value prints the message and `usage` to stderr and exits 2; `-h`/`--help` prints `usage` and exits 0.
 */
export function parseCliFlags<Schema extends z.ZodType<{ help: boolean }>>(
  argv: readonly string[],
  options: NonNullable<ParseArgsConfig['options']>,
  schema: Schema,
  usage: string,
): z.output<Schema> {
  const fail = (message: string): never => {
    process.stderr.write(`Error: ${message}\n\n${usage}\n`);
    process.exit(2);
  };
  let values: Record<string, unknown> = {};
  try {
    ({ values } = parseArgs({ args: [...argv], strict: true, allowPositionals: false, options }));
  } catch (error) {
    fail((error as Error).message);
  }
  const result = schema.safeParse(values);
  if (!result.success) {
    const issue = result.error.issues[0];
    return fail(`--${String(issue?.path[0] ?? '')}: ${issue?.message ?? 'invalid value'}`);
  }
  if (result.data.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return result.data;
}
