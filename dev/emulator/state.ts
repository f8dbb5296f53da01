import { randomUUID } from 'node:crypto';
import type { Operation } from './versions.js';

export type RejectionReason = 'authentication' | 'validation' | 'notFound' | 'throttled' | 'faults';

export interface IdentityRecord {
  id: string;
  customId?: string;
  /** Tokens whose issue sequence number is at most this are revoked (0: none). */
  revokedThroughSequence: number;
  lastTokenIssuedAtMs?: number;
}

export interface Stats {
  operations: Record<Operation, number>;
  rejected: Record<RejectionReason, number>;
  identities: { active: number };
  /**
   * Calls carried out whose answer could not be delivered because the caller had gone (timed out, disconnected)
   * by the time it was due: `undelivered.createIdentity` counts identities created that their caller never heard of.
   */
  undelivered: Record<Operation, number>;
}

function perOperation(): Record<Operation, number> {
  return {
    createIdentity: 0,
    getIdentity: 0,
    issueToken: 0,
    revokeTokens: 0,
    deleteIdentity: 0,
    exchangeTeamsToken: 0,
  };
}

const tokenSweepInterval = 10_000;

/** The emulated resource: its identities, the tokens it issued, revocations, and the counters tests read. */
export class EmulatorState {
  private readonly identities = new Map<string, IdentityRecord>();
  private readonly idsByCustomId = new Map<string, string>();
  /**
   * Every ACS token issued, by signature, with a sequence number: revocation compares sequence numbers, not the
   * one-second `iat`, so a token issued just before a revoke is revoked and one issued just after is not.
   */
  private readonly issuedTokens = new Map<string, { sequence: number; expiresAtMs: number }>();
  private tokenSequence = 0;
  private readonly operations = perOperation();
  private readonly undelivered = perOperation();
  private readonly rejected: Record<RejectionReason, number> = {
    authentication: 0,
    validation: 0,
    notFound: 0,
    throttled: 0,
    faults: 0,
  };

  constructor(readonly resourceId: string) {}

  /** Creates an identity; with a customId, returns the identity already bound to it if there is one. */
  createIdentity(customId?: string): IdentityRecord {
    const existingId = customId === undefined ? undefined : this.idsByCustomId.get(customId);
    const existing = existingId === undefined ? undefined : this.identities.get(existingId);
    if (existing) return existing;
    const record: IdentityRecord = {
      id: `8:acs:${this.resourceId}_${randomUUID()}`,
      revokedThroughSequence: 0,
    };
    if (customId !== undefined) {
      record.customId = customId;
      this.idsByCustomId.set(customId, record.id);
    }
    this.identities.set(record.id, record);
    return record;
  }

  find(id: string): IdentityRecord | undefined {
    return this.identities.get(id);
  }

  delete(id: string): void {
    const record = this.identities.get(id);
    if (record?.customId !== undefined) this.idsByCustomId.delete(record.customId);
    this.identities.delete(id);
  }

  revoke(record: IdentityRecord): void {
    record.revokedThroughSequence = this.tokenSequence;
  }

  rememberToken(record: IdentityRecord | undefined, token: string, nowMs: number, expiresAtMs: number): void {
    this.tokenSequence += 1;
    this.issuedTokens.set(signatureOf(token), { sequence: this.tokenSequence, expiresAtMs });
    if (record) record.lastTokenIssuedAtMs = nowMs;
    if (this.issuedTokens.size % tokenSweepInterval === 0) this.forgetExpiredTokens(nowMs);
  }

  /** Whether a token this emulator issued for `record` was issued after its last revocation. */
  isRevoked(record: IdentityRecord, token: string): boolean {
    const issued = this.issuedTokens.get(signatureOf(token));
    return !issued || issued.sequence <= record.revokedThroughSequence;
  }

  activeIdentityIds(): string[] {
    return [...this.identities.keys()];
  }

  countSuccess(operation: Operation): void {
    this.operations[operation] += 1;
  }

  countUndelivered(operation: Operation): void {
    this.undelivered[operation] += 1;
  }

  countRejection(reason: RejectionReason): void {
    this.rejected[reason] += 1;
  }

  stats(): Stats {
    return {
      operations: { ...this.operations },
      rejected: { ...this.rejected },
      identities: { active: this.identities.size },
      undelivered: { ...this.undelivered },
    };
  }

  private forgetExpiredTokens(nowMs: number): void {
    for (const [signature, token] of this.issuedTokens) {
      if (token.expiresAtMs <= nowMs) this.issuedTokens.delete(signature);
    }
  }
}

function signatureOf(token: string): string {
  return token.slice(token.lastIndexOf('.') + 1);
}
