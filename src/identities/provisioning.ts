import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AcsSession } from '../acs/client.js';
import { hashUser, type Logger } from '../log.js';
import {
  AcsUnavailableError,
  ErasedMeanwhileError,
  IdentityPendingError,
  IdentityStoreUnavailableError,
} from '../shared/errors.js';
import type { TokenReuse } from '../tokens/token-reuse.js';
import type { TokenGrant, TokenOrder } from '../tokens/tokens.js';
import { hasIdentity, type IdentityRecord, type UserKey, type Versioned } from './identity-store.js';
import { isIdentityGone } from './lifecycle.js';
import {
  claimFor,
  type Decision,
  generationOf,
  isClaim,
  mappingFor,
  releasedClaim,
  type UserRows,
  withKeptTokens,
} from './user-row.js';

export interface ClaimTiming {
  /** How long a claim may stay unrenewed, as one waiter watches it, before the waiter takes it over. */
  leaseMs: number;
  /** How often a holder renews its claim while ACS creates the identity. */
  renewEveryMs: number;
  /** First pause of a request waiting for another's claim; pauses grow to `maxWaitStepMs`. */
  firstWaitStepMs: number;
  maxWaitStepMs: number;
  /**
   * How long a create sent to ACS is carried to its answer, and that answer to the row, after the request that sent
   * it has answered 503 for want of time: only past this is a create given up (and an orphan possible).
   */
  inFlightMs: number;
}

export const DEFAULT_CLAIM_TIMING: ClaimTiming = {
  leaseMs: 3_000,
  renewEveryMs: 1_000,
  firstWaitStepMs: 20,
  maxWaitStepMs: 200,
  inFlightMs: 120_000,
};

export interface ProvisioningDependencies {
  rows: UserRows;
  acs: AcsSession;
  log: Logger;
  /** Tokens kept for reuse; undefined when TOKEN_REUSE is off. */
  reuse: TokenReuse | undefined;
  timing?: ClaimTiming;
}

/** Time kept back from the request's budget for the answer, once waiting for a create gives up. */
const WAIT_MARGIN_MS = 250;

type Step =
  | { kind: 'reused'; grant: TokenGrant }
  | { kind: 'issue'; spent: Versioned }
  | { kind: 'create'; claimed: Versioned }
  | { kind: 'wait'; current: Versioned };

/**
 * A token for the user's one durable ACS identity, whatever the number of instances and concurrent requests.
 *
 * One read of the user's row decides. Known user: a token kept for reuse (no write, no ACS call), or one write that
 * spends the limit and one ACS issue. New user: claim before create. The request writes a claim (a conditional
 * write: exactly one request in the deployment wins), creates the identity with its token in one ACS call and
 * replaces the claim with the identity; concurrent requests on any instance find the claim and wait for its outcome
 * instead of creating their own. The holder renews its claim while ACS works; a waiter that watches a claim stay
 * unrenewed for a lease (by its own monotonic clock: no two clocks compared) takes it over.
 *
 * A create sent to ACS is never abandoned: if the request's budget runs out first, the request answers 503 and the
 * create goes on in the background, its claim renewed, to be recorded or deleted. An erase wins: the generation the
 * request first read must still be the row's at every write, or the request stops and deletes what it created.
 */
export async function issueTokenForUser(
  deps: ProvisioningDependencies,
  user: UserKey,
  order: TokenOrder,
): Promise<TokenGrant> {
  const timing = deps.timing ?? DEFAULT_CLAIM_TIMING;
  const waits = new ClaimWatch(timing);
  let current = await deps.rows.read(user);
  const generation = generationOf(current);
  for (;;) {
    const step = await deps.rows.settle(
      user,
      current,
      (read) => decide(deps, user, order, generation, read, waits),
      () => deps.acs.remainingMs(),
    );
    switch (step.kind) {
      case 'reused':
        deps.acs.tokensReused++; // the request log line counts it (src/telemetry.ts)
        return step.grant;
      case 'issue': {
        const issued = await issueKnown(deps, timing, user, order, generation, step.spent);
        if (issued) return issued;
        break;
      }
      case 'create':
        return createUnderClaim(deps, timing, user, order, generation, step.claimed);
      case 'wait': {
        const pause = waits.nextPause();
        if (pause > deps.acs.remainingMs() - WAIT_MARGIN_MS) {
          throw new IdentityPendingError("Another request is still creating this user's identity");
        }
        await sleep(pause);
      }
    }
    current = await deps.rows.read(user);
  }
}

/** What the row as read asks of a token request. */
async function decide(
  deps: ProvisioningDependencies,
  user: UserKey,
  order: TokenOrder,
  generation: number,
  current: Versioned | undefined,
  waits: ClaimWatch,
): Promise<Decision<Step>> {
  if (generationOf(current) !== generation) throw new ErasedMeanwhileError('Erased while this request ran');
  const record = current?.record;
  if (current && hasIdentity(record)) {
    const reused = await deps.reuse?.find(user, order, record, deps.rows.now());
    if (reused) return { done: { kind: 'reused', grant: reused } };
    return { write: record, options: { operation: 'issue' }, after: (spent) => ({ kind: 'issue', spent }) };
  }
  if (current && record && isClaim(record)) {
    if (!waits.holderIsGone(current)) return { done: { kind: 'wait', current } };
    deps.log('warning', { event: 'claim_taken_over', user: hashUser(user) });
  }
  return {
    write: claimFor(user, record, randomUUID()),
    options: { operation: 'create' },
    after: (claimed) => ({ kind: 'create', claimed }),
  };
}

/**
 * One ACS issue for the identity the row names, the limit already spent in `spent`; the token is kept for reuse in
 * the same row. Undefined when ACS no longer knows the identity and the row moved on meanwhile: start over.
 */
async function issueKnown(
  deps: ProvisioningDependencies,
  timing: ClaimTiming,
  user: UserKey,
  order: TokenOrder,
  generation: number,
  spent: Versioned,
): Promise<TokenGrant | undefined> {
  const { record } = spent;
  const communicationUserId = record.communicationUserId ?? '';
  const requestedAt = deps.rows.now();
  let grant: TokenGrant;
  try {
    grant = {
      communicationUserId,
      ...(await deps.acs.issueToken(communicationUserId, order.scopes, order.expiresInMinutes)),
    };
  } catch (error) {
    if (!isIdentityGone(error)) throw error;
    // ACS no longer knows it (an erase stopped half way): a new identity, unless the row moved on (an erase).
    const claimed = await deps.rows.write(user, spent, claimFor(user, record, randomUUID()), {
      operation: 'create',
    });
    return claimed ? createUnderClaim(deps, timing, user, order, generation, claimed) : undefined;
  }
  const sealed = await deps.reuse?.keep(user, order, grant, requestedAt, record);
  // The token is answered either way; a lost race or a store hiccup only loses its reuse.
  if (sealed) await deps.rows.write(user, spent, withKeptTokens(record, sealed)).catch(() => undefined);
  return grant;
}

/**
 * Which claims a waiting request may take over: one this request has watched stay unchanged (no renewal) for a
 * whole lease, judged by this instance's monotonic clock alone.
 */
class ClaimWatch {
  #watched?: { version: string; since: number };
  #pause: number;

  constructor(private readonly timing: ClaimTiming) {
    this.#pause = timing.firstWaitStepMs;
  }

  holderIsGone({ version }: Versioned): boolean {
    const now = performance.now();
    if (this.#watched?.version !== version) this.#watched = { version, since: now };
    return now - this.#watched.since >= this.timing.leaseMs;
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
 * Creates the identity under the claim `claimed` holds and records it. The request's budget bounds the wait for
 * ACS's answer, as it bounds every ACS call (the store's writes have budgets of their own): if it runs out first,
 * the request answers IdentityPendingError (503, Retry-After) and the create runs on.
 */
async function createUnderClaim(
  deps: ProvisioningDependencies,
  timing: ClaimTiming,
  user: UserKey,
  order: TokenOrder,
  generation: number,
  claimed: Versioned,
): Promise<TokenGrant> {
  let answered!: () => void;
  const acsAnswered = new Promise<void>((resolve) => {
    answered = resolve;
  });
  const inFlight = createAndRecord(deps, timing, user, order, generation, claimed, answered);
  inFlight.catch(() => undefined); // answered below, or dropped once the request has answered already
  const budget = Math.max(0, deps.acs.remainingMs());
  let timer: NodeJS.Timeout | undefined;
  const outOfTime = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      deps.log('information', { event: 'identity_create_continues', user: hashUser(user) });
      reject(new IdentityPendingError("This user's identity is still being created"));
    }, budget);
  });
  try {
    await Promise.race([acsAnswered, inFlight, outOfTime]);
  } finally {
    clearTimeout(timer);
  }
  return inFlight;
}

/**
 * The create itself and its recording, with its own budget (`inFlightMs`), renewing the claim while ACS works. If
 * ACS fails, the claim is released so a waiting request can try at once. If the claim was taken over meanwhile,
 * whichever identity the row ends up naming is the user's, and the other is deleted.
 */
async function createAndRecord(
  deps: ProvisioningDependencies,
  timing: ClaimTiming,
  user: UserKey,
  order: TokenOrder,
  generation: number,
  claimed: Versioned,
  answered: () => void = () => undefined,
): Promise<TokenGrant> {
  const deadline = performance.now() + timing.inFlightMs;
  const lease = new ClaimLease(deps.rows, user, claimed, timing);
  const requestedAt = deps.rows.now();
  let created: TokenGrant;
  try {
    created = await deps.acs.createIdentityWithToken(order.scopes, order.expiresInMinutes, timing.inFlightMs);
  } catch (error) {
    answered();
    const held = await lease.stop();
    if (error instanceof AcsUnavailableError && ANSWER_LOST.has(error.reason)) {
      // ACS may have created it after all; nothing can find it again (no listing, no idempotent create).
      deps.log('warning', { event: 'identity_create_unanswered', user: hashUser(user) });
    }
    await deps.rows.write(user, held, releasedClaim(user, held.record)).catch(() => undefined);
    throw error;
  }
  answered();
  const held = await lease.stop();
  const owner = await recordIdentity(deps, user, order, generation, held, created, requestedAt, deadline);
  if (owner === created.communicationUserId) return created;
  await discardIdentity(deps, created.communicationUserId);
  return {
    communicationUserId: owner,
    ...(await deps.acs.issueToken(owner, order.scopes, order.expiresInMinutes)),
  };
}

/** Pause between attempts to record a created identity while the store is unavailable. */
const RECORD_RETRY_MS = 250;

/**
 * Writes the created identity (and its token, kept for reuse) into the user's row in place of the claim at `held`.
 * Answers the identity the row names afterwards: ours, or the one a request that took the claim over recorded
 * first. If an erase came in between (the generation moved on), or the store stays unavailable until `deadline`,
 * the new identity is deleted and the error thrown, so nothing is left that no row names.
 */
async function recordIdentity(
  deps: ProvisioningDependencies,
  user: UserKey,
  order: TokenOrder,
  generation: number,
  held: Versioned,
  created: TokenGrant,
  requestedAt: number,
  deadline: number,
): Promise<string> {
  const { communicationUserId } = created;
  let current: Versioned | undefined = held;
  let known = true;
  for (;;) {
    try {
      if (!known) current = await deps.rows.read(user);
      known = false;
      if (generationOf(current) !== generation) throw new ErasedMeanwhileError('Erased while the create ran');
      if (current && hasIdentity(current.record)) return current.record.communicationUserId;
      // Our claim, a claim that took ours over, a released claim, or (removed by hand) no row: ours to fill.
      const base: IdentityRecord = current?.record ?? claimFor(user, undefined, 'none');
      const mapping = mappingFor(user, base, communicationUserId, undefined);
      const sealed = await deps.reuse?.keep(user, order, created, requestedAt, mapping);
      const written = await deps.rows.write(
        user,
        current,
        sealed ? withKeptTokens(mapping, sealed) : mapping,
      );
      if (written) return communicationUserId;
    } catch (error) {
      const retry = error instanceof IdentityStoreUnavailableError && performance.now() < deadline;
      if (!retry) {
        await discardIdentity(deps, communicationUserId);
        throw error;
      }
      await sleep(RECORD_RETRY_MS);
    }
  }
}

async function discardIdentity(deps: ProvisioningDependencies, communicationUserId: string): Promise<void> {
  try {
    await deps.acs.deleteIdentity(communicationUserId);
  } catch (error) {
    // Nothing left to try; the id lets an operator find and delete the orphan.
    deps.log('error', {
      event: 'orphaned_identity',
      communicationUserId,
      reason: error instanceof Error ? error.name : 'unknown',
    });
  }
}

/**
 * Keeps a claim alive while ACS works: rewrites it every `renewEveryMs` (a new version is what waiters watch for),
 * one renewal at a time, and on stop hands back the claim as last written.
 */
class ClaimLease {
  #held: Versioned;
  readonly #stopped = new AbortController();
  readonly #renewing: Promise<void>;

  constructor(
    private readonly rows: UserRows,
    private readonly user: UserKey,
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
      const renewed = await this.rows.write(this.user, this.#held, this.#held.record).catch(() => this.#held); // a store hiccup: try again next time
      if (!renewed) return; // taken over or erased: the final write finds out
      this.#held = renewed;
    }
  }
}

/** AUTH_MODE=anonymous: the tutorial's behaviour, a new identity per call and nothing stored. */
export async function issueTokenForAnonymous(acs: AcsSession, order: TokenOrder): Promise<TokenGrant> {
  return acs.createIdentityWithToken(order.scopes, order.expiresInMinutes);
}
