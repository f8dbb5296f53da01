import type { IdentityMapping } from '../../src/identities/identity-store.js';

/** What the emulator, the store and the users' answers say after a burst, and how far they disagree. */
export interface ConsistencyReport {
  /** One ACS identity held by several mappings, or one user answered with several identities. */
  duplicates: string[];
  /** ACS identities no mapping holds, and mappings whose ACS identity does not exist. */
  orphans: string[];
  /** Users answered 200 whose mapping is missing or points elsewhere. */
  lost: string[];
}

/**
 * Compares the three views one to one: the emulator's active identities, the store's mappings, and for each user
 * the identities the service answered with (`answered`: user id -> communicationUserIds seen in 200 answers).
 */
export function compareViews(
  identities: readonly string[],
  mappings: readonly IdentityMapping[],
  answered: ReadonlyMap<string, ReadonlySet<string>>,
): ConsistencyReport {
  const report: ConsistencyReport = { duplicates: [], orphans: [], lost: [] };
  const holders = new Map<string, string[]>();
  for (const mapping of mappings) {
    holders.set(mapping.communicationUserId, [
      ...(holders.get(mapping.communicationUserId) ?? []),
      mapping.userId,
    ]);
  }
  for (const [identity, users] of holders) {
    if (users.length > 1) report.duplicates.push(`${identity} is mapped to ${users.length} users`);
  }
  const active = new Set(identities);
  for (const identity of active) {
    if (!holders.has(identity)) report.orphans.push(`${identity} has no mapping`);
  }
  for (const mapping of mappings) {
    if (!active.has(mapping.communicationUserId))
      report.orphans.push(`a mapping points at a missing identity`);
  }
  const byUser = new Map(mappings.map((mapping) => [mapping.userId, mapping.communicationUserId]));
  for (const [userId, seen] of answered) {
    if (seen.size > 1) report.duplicates.push(`a user was answered with ${seen.size} identities`);
    for (const identity of seen) {
      if (byUser.get(userId) !== identity) report.lost.push(`a user's answered identity is not its mapping`);
    }
  }
  return report;
}
