import {
  type IdentityRecord,
  type IdentityStore,
  identityRecordSchema,
  type UserKey,
  userKeyOf,
  type Versioned,
} from '../identity-store.js';

/**
 * Keeps records in this process only: for local runs and tests. Records are lost on restart and not shared
 * between instances, so a scaled-out deployment must use the table adapter.
 */
export class MemoryIdentityStore implements IdentityStore {
  readonly #rows = new Map<string, Versioned>();
  #nextVersion = 1;

  async read(user: UserKey): Promise<Versioned | undefined> {
    return this.#copy(this.#rows.get(userKeyOf(user)));
  }

  async insert(record: IdentityRecord): Promise<Versioned | undefined> {
    const key = userKeyOf(record);
    if (this.#rows.has(key)) return undefined;
    return this.#write(key, record);
  }

  async replace(record: IdentityRecord, version: string): Promise<Versioned | undefined> {
    const key = userKeyOf(record);
    if (this.#rows.get(key)?.version !== version) return undefined;
    return this.#write(key, record);
  }

  async remove(user: UserKey, version: string): Promise<boolean> {
    const key = userKeyOf(user);
    if (this.#rows.get(key)?.version !== version) return false;
    return this.#rows.delete(key);
  }

  async *list(): AsyncIterable<IdentityRecord> {
    for (const { record } of [...this.#rows.values()]) yield { ...record };
  }

  async ping(): Promise<void> {}

  /** One process, one clock. */
  now(): number {
    return Date.now();
  }

  #write(key: string, record: IdentityRecord): Versioned | undefined {
    const stored = { record: identityRecordSchema.parse(record), version: String(this.#nextVersion++) };
    this.#rows.set(key, stored);
    return this.#copy(stored);
  }

  #copy(stored: Versioned | undefined): Versioned | undefined {
    return stored && { record: { ...stored.record }, version: stored.version };
  }
}
