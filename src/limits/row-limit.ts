/**
 * The shared per-user limit, kept in the user's own row and spent by what a request costs ACS. A token handed back
 * from the row costs ACS nothing and the row no write, so it spends nothing here (the per-instance limit in
 * src/http/rate-limit.ts guards those answers); everything that calls ACS spends its weight in the same conditional
 * write that the operation makes to the row before it calls ACS. The bucket holds a minute's worth and refills
 * continuously; its time is the store's (IdentityStore.now), so instances whose clocks disagree still count alike.
 */

/**
 * What each ACS operation weighs, after ACS's own per-resource limits (per 30 s: 1000 creates with token and 1000
 * token issues, but only 500 deletes and 500 revokes; /work/shared/acs-identity-api.md, "Service limits"): a
 * delete or revoke spends twice what an issue or create does, so one account cycling create + erase cannot spend
 * the resource's delete quota faster than its issue quota.
 */
export const ACS_WEIGHTS = {
  reused: 0,
  issue: 1,
  create: 1,
  revoke: 2,
  delete: 2,
} as const;
export type AcsOperation = keyof typeof ACS_WEIGHTS;

export interface RowLimitOptions {
  /** RATE_LIMIT_PER_MINUTE: the bucket size and its refill per minute, in weight units. */
  perMinute: number;
}

/** The limit's fields of a row: tokens left at `limitAt` (store time); absent means a full bucket. */
export interface LimitFields {
  limitTokens?: number | undefined;
  limitAt?: number | undefined;
}

const REFILL_MS = 60_000;

export type LimitDecision =
  | { readonly allowed: true; readonly fields: { limitTokens: number; limitAt: number } }
  | { readonly allowed: false; readonly retryAfterSeconds: number };

/** The bucket's level at store time `now`. */
export function levelAt(fields: LimitFields, now: number, { perMinute }: RowLimitOptions): number {
  if (fields.limitTokens === undefined || fields.limitAt === undefined) return perMinute;
  const refilled = (Math.max(0, now - fields.limitAt) * perMinute) / REFILL_MS;
  return Math.min(perMinute, fields.limitTokens + refilled);
}

/**
 * Spends `operation`'s weight at store time `now`: the fields to write with the row, or a refusal saying when enough
 * has refilled. A weight above the bucket size needs a full bucket, so no setting makes an operation impossible.
 * Weight 0 only carries the refilled level forward, which every write of the row does so that none loses refill.
 */
export function spend(
  fields: LimitFields,
  operation: AcsOperation,
  now: number,
  options: RowLimitOptions,
): LimitDecision {
  const level = levelAt(fields, now, options);
  const weight = Math.min(ACS_WEIGHTS[operation], options.perMinute);
  if (level >= weight) return { allowed: true, fields: { limitTokens: level - weight, limitAt: now } };
  const missing = weight - level;
  return {
    allowed: false,
    retryAfterSeconds: Math.max(1, Math.ceil((missing * REFILL_MS) / options.perMinute / 1000)),
  };
}
