/** The emulator's notion of now, in milliseconds since the epoch; injectable so tests can move time forward. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

/** Formats an instant the way the ACS service does: seven fractional digits and an explicit offset. */
export function formatServiceDate(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-01-02T03:04:05.678Z
  return `${iso.slice(0, 23)}0000+00:00`;
}
