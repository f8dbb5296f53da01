import {
  type IdentityMapping,
  IdentityNotFoundError,
  type IdentityStore,
  identityMappingSchema,
  laterRevocation,
  type UserKey,
} from '../identity-store.js';

/**
 * Keeps mappings in this process only: for local runs and tests. Mappings are lost on restart and not shared
 * between instances, so a scaled-out deployment must use the table adapter.
 */
export class MemoryIdentityStore implements IdentityStore {
  readonly #mappings = new Map<string, IdentityMapping>();

  async get(user: UserKey): Promise<IdentityMapping | undefined> {
    const mapping = this.#mappings.get(mapKey(user));
    return mapping && { ...mapping };
  }

  async createIfAbsent(mapping: IdentityMapping): Promise<{ mapping: IdentityMapping; created: boolean }> {
    const candidate = identityMappingSchema.parse(mapping);
    const key = mapKey(candidate);
    const stored = this.#mappings.get(key);
    if (stored) {
      return {
        mapping: { ...stored },
        created: stored.communicationUserId === candidate.communicationUserId,
      };
    }
    this.#mappings.set(key, candidate);
    return { mapping: { ...candidate }, created: true };
  }

  async markRevoked(user: UserKey, at: Date): Promise<IdentityMapping> {
    const key = mapKey(user);
    const stored = this.#mappings.get(key);
    if (!stored) throw new IdentityNotFoundError('The user has no identity mapping');
    const updated = { ...stored, revokedAt: laterRevocation(stored.revokedAt, at) };
    this.#mappings.set(key, updated);
    return { ...updated };
  }

  async delete(user: UserKey, communicationUserId: string): Promise<boolean> {
    const key = mapKey(user);
    if (this.#mappings.get(key)?.communicationUserId !== communicationUserId) return false;
    return this.#mappings.delete(key);
  }

  async *list(): AsyncIterable<IdentityMapping> {
    for (const mapping of [...this.#mappings.values()]) yield { ...mapping };
  }

  async ping(): Promise<void> {}
}

/** JSON of the pair keeps every (issuer, userId) distinct, whatever characters they hold. */
function mapKey(user: UserKey): string {
  return JSON.stringify([user.issuer, user.userId]);
}
