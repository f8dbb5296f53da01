/** The emulator's notion of now, in milliseconds since the epoch; injectable so tests can move time forward. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

/** Formats an instant the way the ACS service does in `expiresOn`: seven fractional digits and an explicit offset. */
export function formatServiceDate(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-01-02T03:04:05.678Z
  return `${iso.slice(0, 23)}0000+00:00`;
}

/**
 * Formats an instant the way the service does in `lastTokenIssuedAt`: whole seconds and an explicit offset, e.g.
 * `2025-04-14T15:32:27+00:00` (azure-sdk-assets, net/.../GetUserShouldReturnTheCustomId.json).
 */
export function formatWholeSecondDate(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}+00:00`;
}
