import { createHash } from 'node:crypto';
import type { InvocationContext } from '@azure/functions';
import type { UserKey } from './identities/identity-store.js';

export type LogLevel = 'information' | 'warning' | 'error';

/** Structured log events; values must never include a token, key, connection string or raw user id. */
export type Logger = (level: LogLevel, event: Record<string, unknown>) => void;

/**
 * Warnings and errors logged outside any invocation (start-up: invalid_settings, token_sealing_*), kept until an
 * invocation can log them again. The Functions host records a worker's console output as Host.Function.Console and
 * guesses its severity from the text (Azure/azure-functions-host src/WebJobs.Script/Workers/ProcessManagement/
 * WorkerProcess.cs); only the invocation's own logging (context.warn/error) reaches Application Insights with its
 * real severity, which is what alerts on errors see.
 */
const problemsOutsideInvocations: { level: LogLevel; event: Record<string, unknown> }[] = [];
/** A bound, in case no invocation comes to take them (a local run, a worker with no traffic). */
const MAX_KEPT_PROBLEMS = 20;

export const consoleLogger: Logger = (level, event) => {
  const line = JSON.stringify(event);
  if (level === 'error') console.error(line);
  else if (level === 'warning') console.warn(line);
  else console.info(line);
  if (level !== 'information' && problemsOutsideInvocations.length < MAX_KEPT_PROBLEMS) {
    problemsOutsideInvocations.push({ level, event });
  }
};

/** Logs the problems kept since the last invocation through this one's context, with their level, once. */
export function logKeptProblems(context: InvocationContext): void {
  for (const { level, event } of problemsOutsideInvocations.splice(0)) {
    const line = JSON.stringify({ ...event, invocationId: context.invocationId, loggedAtStartUp: true });
    if (level === 'error') context.error(line);
    else context.warn(line);
  }
}

/** A stable pseudonym for a user in logs: the same user always hashes the same, and the raw id never appears. */
export function hashUser(user: UserKey): string {
  return createHash('sha256')
    .update(user.issuer)
    .update('\u0000')
    .update(user.userId)
    .digest('hex')
    .slice(0, 16);
}
