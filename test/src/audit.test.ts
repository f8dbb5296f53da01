import { describe, expect, it } from 'vitest';
import { type AuditEntry, audit, audited } from '../../src/audit.js';
import { hashUser, type Logger, type LogLevel } from '../../src/log.js';
import { AcsUnavailableError } from '../../src/shared/errors.js';

function capture() {
  const lines: { level: LogLevel; event: Record<string, unknown> }[] = [];
  const log: Logger = (level, event) => lines.push({ level, event });
  return { lines, log };
}

const admin = { issuer: 'https://login.example/tenant/v2.0', userId: 'admin-object-id' };
const user = { issuer: 'https://other.example/', userId: 'user-object-id' };
const entry: AuditEntry = {
  action: 'identity.delete',
  actorKind: 'admin',
  actor: admin,
  subject: user,
};

describe('audit', () => {
  it('logs who, whom (each with its issuer), what, when and the outcome, with users only as hashes', () => {
    const { lines, log } = capture();
    const before = Date.now();
    audit(log, entry, 'deleted');
    expect(lines).toEqual([
      {
        level: 'information',
        event: {
          event: 'audit',
          action: 'identity.delete',
          actorKind: 'admin',
          actor: hashUser(admin),
          subject: hashUser(user),
          actorIssuer: admin.issuer,
          subjectIssuer: user.issuer,
          outcome: 'deleted',
          at: expect.any(String),
        },
      },
    ]);
    const at = Date.parse(String(lines[0]?.event.at));
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now());
    const text = JSON.stringify(lines);
    expect(text).not.toContain(admin.userId);
    expect(text).not.toContain(user.userId);
  });

  it('logs refusals as warnings', () => {
    const { lines, log } = capture();
    audit(log, entry, 'forbidden');
    expect(lines[0]).toMatchObject({ level: 'warning', event: { outcome: 'forbidden' } });
  });
});

describe('audited', () => {
  it('logs the outcome the action reports and hands its result back', async () => {
    const { lines, log } = capture();
    await expect(audited(log, entry, async () => ({ outcome: 'absent' as const }))).resolves.toEqual({
      outcome: 'absent',
    });
    expect(lines.map(({ event }) => event.outcome)).toEqual(['absent']);
  });

  it('logs a failure with the error class and code, never its message, and rethrows it', async () => {
    const { lines, log } = capture();
    const failure = new AcsUnavailableError('acs_503', 5);
    failure.message = 'secret-bearing message accesskey=abc';
    await expect(
      audited(log, entry, async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'error',
        event: expect.objectContaining({ outcome: 'failed', reason: 'AcsUnavailableError:acs_503' }),
      }),
    ]);
    expect(JSON.stringify(lines)).not.toContain('accesskey');
  });
});
