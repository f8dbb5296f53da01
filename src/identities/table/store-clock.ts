import type { TableClient } from '@azure/data-tables';

/**
 * The table service's time as this instance learns it from the `Date` header of every response (Azure Table Storage
 * and Azurite send one), kept as an offset from this process's monotonic clock. The header has whole seconds and is
 * written before the answer travels, so each answer gives a lower bound of the service's time on arrival; the
 * largest bound seen is kept. Every instance's estimate is then within about a second of the service's clock, and
 * none depends on its own wall clock (which may be off by any amount).
 */
export class StoreClock {
  #offsetMs: number | undefined;

  /** Watches `client`'s answers from now on. */
  watch(client: TableClient): void {
    client.pipeline.addPolicy({
      name: 'storeClock',
      sendRequest: async (request, next) => {
        const response = await next(request);
        this.observe(response.headers.get('date'));
        return response;
      },
    });
  }

  observe(dateHeader: string | undefined): void {
    const at = dateHeader === undefined ? Number.NaN : Date.parse(dateHeader);
    if (!Number.isFinite(at)) return;
    const offset = at - performance.now();
    if (this.#offsetMs === undefined || offset > this.#offsetMs) this.#offsetMs = offset;
  }

  /** The service's time now; this instance's wall clock until a first answer arrived. */
  now(): number {
    return this.#offsetMs === undefined ? Date.now() : performance.now() + this.#offsetMs;
  }
}
