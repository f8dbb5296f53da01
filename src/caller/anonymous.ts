import { randomUUID } from 'node:crypto';
import type { CallerValidator, Principal } from './principal.js';

/** AUTH_MODE=anonymous: the tutorial's behaviour, every caller is a new nobody (no mapping is ever stored). */
export function createAnonymousValidator(): CallerValidator {
  return {
    async authenticate(): Promise<Principal> {
      return { issuer: 'anonymous', userId: randomUUID(), roles: [], scopes: [], anonymous: true };
    },
  };
}
