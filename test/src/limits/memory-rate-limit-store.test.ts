import { MemoryRateLimitStore } from '../../../src/limits/memory-rate-limit-store.js';
import { describeRateLimitStoreContract } from './rate-limit-store.contract.js';

describeRateLimitStoreContract('MemoryRateLimitStore', async (perMinute, clock, count) => {
  const store = new MemoryRateLimitStore({ perMinute, maxBuckets: 1_000, now: clock.now });
  return Array.from({ length: count }, () => store);
});
