import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AcsSession } from '../acs/client.js';
import { AcsUnavailableError } from '../acs/errors.js';
import { hashUser, type Logger } from '../log.js';
import type { TokenReuse } from '../tokens/token-reuse.js';
import { CLOCK_SKEW_MS, type TokenGrant, type TokenOrder } from '../tokens/tokens.js';
import {
  hasIdentity,
  type IdentityRecord,
  type IdentityStore,
  IdentityStoreUnavailableError,
  type UserKey,
  type Versioned,
  type VersionedMapping,
} from './identity-store.js';
import { isIdentityGone } from './lifecycle.js';

export interface ClaimTiming {
  /** How long a claim holds without renewal; a holder that stops renewing (it died) is taken over after it. */
  leaseMs: number;
  /** How often a holder renews its claim while ACS creates the identity. */
  renewEveryMs: number;
  /** First pause of a request waiting for another's claim; pauses grow to `maxWaitStepMs`. */
  firstWaitStepMs: number;
  maxWaitStepMs: number;
}

export const DEFAULT_CLAIM_TIMING: ClaimTiming = {
  leaseMs: 3_000,
  renewEveryMs: 1_000,
  firstWaitStepMs: 20,
  maxWaitStepMs: 200,
};

export interface ProvisioningDependencies {
  store: IdentityStore;
  acs: AcsSession;
  log: Logger;
  /** Tokens kept for reuse; undefined when TOKEN_REUSE is off. */
  reuse: TokenReuse | undefined;
  timing?: ClaimTiming;
}

/** Another request is creating this user's identity and did not finish within this request's budget. */
export class IdentityPendingError extends Error {
  override readonly name = 'IdentityPendingError';
  readonly code = 'ERR_IDENTITY_PENDING';
}

/** Time kept back from the request's budget for the answer, once waiting for another request's claim gives up. */
const WAIT_MARGIN_MS = 250;

/**
 * A token for the user's one durable ACS identity, whatever the number of instances and concurrent requests.
 *
 * One read of the user's record decides. Known user: a reusable token, or one ACS call (issue). New user: claim
 * before create. The request inserts a claim (a conditional insert: exactly one request in the deployment wins),
 * creates the identity with its token in one ACS call and replaces the claim with the identity; concurrent requests
 * on any instance find the claim and wait for its outcome instead of creating their own. The holder renews its
 * short lease while ACS works, so a holder that died (SIGKILL, scale-in) is taken over within a lease, not within
 * a request timeout. ACS offers no idempotent create and no listing, so an identity whose create answer is lost
 * cannot be found again: the one window left is between ACS's answer and the record's write, one Table write long.
 *
 * A record whose identity ACS no longer knows (an erase stopped half way) is turned back into a claim, so the user
 * is served with a new identity.
 */
export async function issueTokenForUser(
  deps: ProvisioningDependencies,
  user: UserKey,
  order: TokenOrder,
): Promise<TokenGrant> {
  const timing = deps.timing ?? DEFAULT_CLAIM_TIMING;
  const waits = new ClaimWatch(timing);
  for (;;) {
    const current = await deps.store.read(user);

    if (current && hasIdentity(current.record)) {
      const reused = await deps.reuse?.find(user, order, current);
      if (reused) {
        deps.acs.tokensReused++; // the request log line counts it (src/telemetry.ts)
        return reused;
      }
      const requestedAt = Date.now();
      let grant: TokenGrant;
      try {
        grant = await issueFor(deps.acs, current.record.communicationUserId, order);
      } catch (error) {
        if (!isIdentityGone(error)) throw error;
        const claimed = await deps.store.replace(newClaim(user, timing), current.version);
        if (!claimed) continue;
        return createUnderClaim(deps, timing, user, order, claimed);
      }
      await deps.reuse?.remember(user, order, grant, requestedAt, current);
      return grant;
    }

    if (!current) {
      const claimed = await deps.store.insert(newClaim(user, timing));
      if (claimed) return createUnderClaim(deps, timing, user, order, claimed);
      continue;
    }

    if (waits.holderIsGone(current)) {
      const claimed = await deps.store.replace(newClaim(user, timing), current.version);
      if (claimed) {
        deps.log('warning', { event: 'claim_taken_over', user: hashUser(user) });
        return createUnderClaim(deps, timing, user, order, claimed);
      }
      continue;
    }

    const pause = waits.nextPause();
    if (pause > deps.acs.remainingMs() - WAIT_MARGIN_MS) {
      throw new IdentityPendingError("Another request is still creating this user's identity");
    }
    await sleep(pause);
  }
}

async function issueFor(
  acs: AcsSession,
  communicationUserId: string,
  order: TokenOrder,
): Promise<TokenGrant> {
  const issued = await acs.issueToken(communicationUserId, order.scopes, order.expiresInMinutes);
  return { communicationUserId, ...issued };
}

function newClaim(user: UserKey, timing: ClaimTiming): IdentityRecord {
  const now = Date.now();
  return {
    issuer: user.issuer,
    userId: user.userId,
    createdAt: new Date(now).toISOString(),
    claimId: randomUUID(),
    claimExpiresAt: new Date(now + timing.leaseMs).toISOString(),
  };
}

/**
 * Which claims a waiting request may take over: one whose holder's own expiry (plus clock skew) has passed, or one
 * this request has watched stay unchanged (no renewal) for a whole lease, judged by this instance's clock alone.
 */
class ClaimWatch {
  #watched?: { version: string; since: number };
  #pause: number;

  constructor(private readonly timing: ClaimTiming) {
    this.#pause = timing.firstWaitStepMs;
  }

  holderIsGone({ record, version }: Versioned): boolean {
    const now = performance.now();
    if (this.#watched?.version !== version) this.#watched = { version, since: now };
    const expiresAt = Date.parse(record.claimExpiresAt ?? '');
    return (
      !(expiresAt + CLOCK_SKEW_MS > Date.now()) ||
      now - this.#watched.since >= this.timing.leaseMs + this.#pause
    );
  }

  nextPause(): number {
    const pause = this.#pause;
    this.#pause = Math.min(this.timing.maxWaitStepMs, Math.ceil(this.#pause * 1.5));
    return pause;
  }
}

/** ACS failures after which the create may have been carried out although no answer came back. */
const ANSWER_LOST = new Set(['acs_timeout', 'acs_unreachable']);

/**
 * Creates the identity under the claim `claimed` holds, and replaces the claim with it. If ACS fails, the claim is
 * released so a waiting request can try at once. If the claim was taken over meanwhile, whichever identity the
 * record ends up naming is the user's, and the other is deleted: the only case where one is created for nothing.
 */
async function createUnderClaim(
  deps: ProvisioningDependencies,
  timing: ClaimTiming,
  user: UserKey,
  order: TokenOrder,
  claimed: Versioned,
): Promise<TokenGrant> {
  const lease = new ClaimLease(deps.store, claimed, timing);
  const requestedAt = Date.now();
  let created: TokenGrant;
  try {
    created = await deps.acs.createIdentityWithToken(order.scopes, order.expiresInMinutes);
  } catch (error) {
    const held = await lease.stop();
    if (error instanceof AcsUnavailableError && ANSWER_LOST.has(error.reason)) {
      // ACS may have created it after all; nothing can find it again (no listing, no idempotent create).
      deps.log('warning', { event: 'identity_create_unanswered', user: hashUser(user) });
    }
    await deps.store.remove(user, held.version).catch(() => undefined);
    throw error;
  }
  const held = await lease.stop();
  const recorded = await recordIdentity(deps, user, held, created.communicationUserId);
  const owner = recorded.record.communicationUserId;
  if (owner === created.communicationUserId) {
    await deps.reuse?.remember(user, order, created, requestedAt, recorded);
    return created;
  }
  await discardIdentity(deps, created.communicationUserId);
  return issueFor(deps.acs, owner, order);
}

/**
 * Writes `communicationUserId` into the user's record, replacing the claim at `held`. Returns the record as stored
 * afterwards, naming our identity or the one a request that took the claim over recorded first. A store that stays
 * unavailable throws, after the new identity is deleted, so nothing is left that no record names.
 */
async function recordIdentity(
  deps: ProvisioningDependencies,
  user: UserKey,
  held: Versioned,
  communicationUserId: string,
): Promise<VersionedMapping> {
  const { claimId: _claimId, claimExpiresAt: _expiresAt, ...rest } = held.record;
  const mapping = { ...rest, communicationUserId };
  let version: string | undefined = held.version;
  let failures = 0;
  for (let round = 0; round < MAX_RECORD_ROUNDS; round++) {
    try {
      const replaced = version === undefined ? undefined : await deps.store.replace(mapping, version);
      if (replaced) return { record: mapping, version: replaced.version };
      // The claim moved on (taken over, or our own earlier write whose answer was lost): look at what is stored.
      const current = await deps.store.read(user);
      if (current && hasIdentity(current.record)) return { record: current.record, version: current.version };
      const inserted = current ? undefined : await deps.store.insert(mapping);
      if (inserted) return { record: mapping, version: inserted.version };
      version = current?.version;
    } catch (error) {
      // A failed write may still have landed (its answer lost): look before trying again or deleting.
      const landed = await deps.store.read(user).catch(() => 'unknown' as const);
      if (landed !== 'unknown' && landed && hasIdentity(landed.record)) {
        return { record: landed.record, version: landed.version };
      }
      if (!(error instanceof IdentityStoreUnavailableError) || ++failures >= RECORD_ATTEMPTS) {
        await discardIdentity(deps, communicationUserId);
        throw error;
      }
      if (landed !== 'unknown') version = landed?.version;
    }
  }
  await discardIdentity(deps, communicationUserId);
  throw new IdentityStoreUnavailableError("The user's record kept changing; giving up for now");
}

/** Store outages are usually brief; an identity that cannot be recorded must be deleted, so try a few times. */
const RECORD_ATTEMPTS = 3;
/** Each round means another request changed the record; beyond this many something is wrong. */
const MAX_RECORD_ROUNDS = 25;

async function discardIdentity(deps: ProvisioningDependencies, communicationUserId: string): Promise<void> {
  try {
    await deps.acs.deleteIdentity(communicationUserId);
  } catch (error) {
    // Nothing left to try in this request; the id lets an operator find and delete the orphan.
    deps.log('error', {
      event: 'orphaned_identity',
      communicationUserId,
      reason: error instanceof Error ? error.name : 'unknown',
    });
  }
}

/**
 * Keeps a claim alive while ACS works: renews its expiry every `renewEveryMs`, one renewal at a time, and on stop
 * hands back the claim as last written (its version is what the final write must name).
 */
class ClaimLease {
  #held: Versioned;
  readonly #stopped = new AbortController();
  readonly #renewing: Promise<void>;

  constructor(
    private readonly store: IdentityStore,
    claimed: Versioned,
    private readonly timing: ClaimTiming,
  ) {
    this.#held = claimed;
    this.#renewing = this.#renewUntilStopped();
  }

  async stop(): Promise<Versioned> {
    this.#stopped.abort();
    await this.#renewing;
    return this.#held;
  }

  async #renewUntilStopped(): Promise<void> {
    const { signal } = this.#stopped;
    while (!signal.aborted) {
      try {
        await sleep(this.timing.renewEveryMs, undefined, { signal });
      } catch {
        return; // stopped
      }
      const claimExpiresAt = new Date(Date.now() + this.timing.leaseMs).toISOString();
      const renewed = await this.store
        .replace({ ...this.#held.record, claimExpiresAt }, this.#held.version)
        .catch(() => this.#held); // a store hiccup: the lease still holds for a while; try again next time
      if (!renewed) return; // taken over: the final write finds out and settles who owns the user
      this.#held = renewed;
    }
  }
}

/** AUTH_MODE=anonymous: the tutorial's behaviour, a new identity per call and nothing stored. */
export async function issueTokenForAnonymous(acs: AcsSession, order: TokenOrder): Promise<TokenGrant> {
  return acs.createIdentityWithToken(order.scopes, order.expiresInMinutes);
}
