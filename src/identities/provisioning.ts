import type { AcsSession, CreatedIdentity } from '../acs/client.js';
import type { AcsScope } from '../acs/scopes.js';
import type { Logger } from '../log.js';
import type { IdentityStore, UserKey } from './identity-store.js';
import { isIdentityGone } from './lifecycle.js';

export interface TokenOrder {
  scopes: readonly AcsScope[];
  expiresInMinutes: number;
}

/** A token and the identity it belongs to: what the token endpoint answers. */
export type TokenGrant = CreatedIdentity;

export interface ProvisioningDependencies {
  store: IdentityStore;
  acs: AcsSession;
  log: Logger;
}

/**
 * A token for the user's one durable ACS identity. Known user: one ACS call (issue). New user: one ACS call
 * (create with token), then the mapping is stored unless a concurrent request stored one first, in which case the
 * identity just created is deleted and the winner's identity gets the token. Nothing created here outlives a
 * failure: if the mapping cannot be stored, the new identity is deleted before the error propagates.
 *
 * A mapping may name an identity ACS no longer knows: a delete ran on another instance (this instance's cached
 * mapping is stale) or stopped half way. Then the dangling mapping is dropped, only if it still names that identity
 * (which also clears this instance's cache), and the store is read again: it holds the identity a concurrent request
 * made since, or nothing, and the user is served as a new one.
 */
export async function issueTokenForUser(
  { store, acs, log }: ProvisioningDependencies,
  user: UserKey,
  order: TokenOrder,
): Promise<TokenGrant> {
  let existing = await store.get(user);
  if (existing) {
    try {
      return await issueFor(acs, existing.communicationUserId, order);
    } catch (error) {
      if (!isIdentityGone(error)) throw error;
      await store.delete(user, existing.communicationUserId);
      existing = await store.get(user);
      if (existing) return issueFor(acs, existing.communicationUserId, order);
    }
  }

  const created = await acs.createIdentityWithToken(order.scopes, order.expiresInMinutes);
  const winner = await storeOrDiscard({ store, acs, log }, user, created);
  return winner === created.communicationUserId ? created : issueFor(acs, winner, order);
}

async function issueFor(
  acs: AcsSession,
  communicationUserId: string,
  order: TokenOrder,
): Promise<TokenGrant> {
  const issued = await acs.issueToken(communicationUserId, order.scopes, order.expiresInMinutes);
  return { communicationUserId, ...issued };
}

/** Stores the mapping to `created`, and returns the identity the user owns afterwards. */
async function storeOrDiscard(
  { store, acs, log }: ProvisioningDependencies,
  user: UserKey,
  created: CreatedIdentity,
): Promise<string> {
  let owner: string | undefined;
  try {
    const stored = await store.createIfAbsent({
      issuer: user.issuer,
      userId: user.userId,
      communicationUserId: created.communicationUserId,
      createdAt: new Date().toISOString(),
    });
    owner = stored.mapping.communicationUserId;
  } catch (storeError) {
    // A failed write may still have landed (e.g. a timeout after the store applied it): look before deleting, so
    // a stored mapping never points at a deleted identity.
    owner = await store.get(user).then(
      (mapping) => mapping?.communicationUserId,
      () => undefined,
    );
    if (owner === undefined) {
      await discardIdentity(acs, log, created.communicationUserId);
      throw storeError;
    }
  }
  if (owner !== created.communicationUserId) await discardIdentity(acs, log, created.communicationUserId);
  return owner;
}

async function discardIdentity(acs: AcsSession, log: Logger, communicationUserId: string): Promise<void> {
  try {
    await acs.deleteIdentity(communicationUserId);
  } catch (error) {
    // Nothing left to try in this request; the id lets an operator find and delete the orphan.
    log('error', {
      event: 'orphaned_identity',
      communicationUserId,
      reason: error instanceof Error ? error.name : 'unknown',
    });
  }
}

/** AUTH_MODE=anonymous: the tutorial's behaviour, a new identity per call and nothing stored. */
export async function issueTokenForAnonymous(acs: AcsSession, order: TokenOrder): Promise<TokenGrant> {
  return acs.createIdentityWithToken(order.scopes, order.expiresInMinutes);
}
