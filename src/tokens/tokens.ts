import type { AcsScope } from '../acs/scopes.js';

/** What a token request asks ACS for, once the scope policy and defaults have been applied. */
export interface TokenOrder {
  readonly scopes: readonly AcsScope[];
  readonly expiresInMinutes: number;
}

/** A token and the identity it belongs to: what the token endpoint answers. */
export interface TokenGrant {
  readonly communicationUserId: string;
  readonly token: string;
  readonly expiresOn: Date;
}

/**
 * Instances' clocks may disagree by this much. A token counts as issued after a revocation only when it was asked
 * for at least this long after the revocation time another instance recorded, and a claim's lease is honoured for
 * this long past the expiry its holder wrote.
 */
export const CLOCK_SKEW_MS = 5_000;
