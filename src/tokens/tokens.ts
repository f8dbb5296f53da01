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
