import type { UserKey } from './identities/identity-store.js';
import { hashUser, type Logger, type LogLevel } from './log.js';

export type AuditAction = 'identity.revoke' | 'identity.delete';

/** `self`: users acting on their own identity; `admin`: an administrator acting on another user (or itself). */
export type ActorKind = 'self' | 'admin';

/**
 * What became of the action. `identity_already_gone`: ACS no longer knew the identity (an earlier attempt got that
 * far), and the mapping was removed or marked. `absent`: the user had no identity, nothing to do. `refused`: the
 * request was turned away before the action (400 invalid, 429 over the per-user limit), with the reason.
 */
export type AuditOutcome =
  | 'revoked'
  | 'deleted'
  | 'identity_already_gone'
  | 'absent'
  | 'not_found'
  | 'forbidden'
  | 'refused'
  | 'failed';

export interface AuditEntry {
  action: AuditAction;
  actorKind: ActorKind;
  /** Who acted (the verified caller). */
  actor: UserKey;
  /** Whose identity the action is about. */
  subject: UserKey;
}

const levels: Record<AuditOutcome, LogLevel> = {
  revoked: 'information',
  deleted: 'information',
  identity_already_gone: 'information',
  absent: 'information',
  not_found: 'warning',
  forbidden: 'warning',
  refused: 'warning',
  failed: 'error',
};

/**
 * One structured line per revoke, delete or admin action: who, whom, what, when and how it ended. Users, admins
 * included, appear only as the log's stable pseudonym (hashUser), so the audit trail can be followed per user
 * without holding anyone's id; nothing else is taken from the request, so no token can reach it. `log` is the
 * request's logger, which adds the invocation id.
 */
export function audit(log: Logger, entry: AuditEntry, outcome: AuditOutcome, reason?: string): void {
  log(levels[outcome], {
    event: 'audit',
    action: entry.action,
    actorKind: entry.actorKind,
    actor: hashUser(entry.actor),
    subject: hashUser(entry.subject),
    // Issuers name identity providers and tenants, not people: with several, they say whose users were touched.
    actorIssuer: entry.actor.issuer,
    subjectIssuer: entry.subject.issuer,
    outcome,
    ...(reason ? { reason } : {}),
    at: new Date().toISOString(),
  });
}

/** The error's class, plus its code when it carries one (ACS errors: `acs_503`); never its message. */
function failureReason(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown';
  const code = (error as { reason?: unknown }).reason;
  return typeof code === 'string' && /^[a-z0-9_]+$/.test(code) ? `${error.name}:${code}` : error.name;
}

/**
 * Runs an action and audits how it ended: the outcome it reports, or `failed` with the error's class name (never
 * its message) before the error goes on to become the response.
 */
export async function audited<Result extends { outcome: AuditOutcome }>(
  log: Logger,
  entry: AuditEntry,
  action: () => Promise<Result>,
): Promise<Result> {
  let result: Result;
  try {
    result = await action();
  } catch (error) {
    audit(log, entry, 'failed', failureReason(error));
    throw error;
  }
  audit(log, entry, result.outcome);
  return result;
}
