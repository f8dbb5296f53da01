import { createHash } from 'node:crypto';
import type { UserKey } from './identities/identity-store.js';

export type LogLevel = 'information' | 'warning' | 'error';

/** Structured log events; values must never include a token, key, connection string or raw user id. */
export type Logger = (level: LogLevel, event: Record<string, unknown>) => void;

export const consoleLogger: Logger = (level, event) => {
  const line = JSON.stringify(event);
  if (level === 'error') console.error(line);
  else if (level === 'warning') console.warn(line);
  else console.info(line);
};

/** A stable pseudonym for a user in logs: the same user always hashes the same, and the raw id never appears. */
export function hashUser(user: UserKey): string {
  return createHash('sha256')
    .update(user.issuer)
    .update('\u0000')
    .update(user.userId)
    .digest('hex')
    .slice(0, 16);
}
