import type { UserKey } from '../identities/identity-store.js';
import {
  issueTokenForUser,
  type ProvisioningDependencies,
  type TokenGrant,
  type TokenOrder,
} from '../identities/provisioning.js';
import type { TokenReuseCache } from './token-reuse.js';

export interface ReusingDependencies extends ProvisioningDependencies {
  /** Undefined when TOKEN_REUSE is off. */
  tokenReuse: TokenReuseCache | undefined;
}

/**
 * A token for the user's one ACS identity, as issueTokenForUser gives it, except that a token this instance issued
 * earlier for the same order is handed back when it is still worth reusing (no ACS call at all). The mapping read
 * here is the one issueTokenForUser reads next, so with the mapping cache on a miss costs no extra storage read.
 * A cached mapping naming an identity deleted elsewhere is healed by issueTokenForUser itself.
 */
export async function issueTokenReusing(
  { tokenReuse, ...dependencies }: ReusingDependencies,
  user: UserKey,
  order: TokenOrder,
): Promise<TokenGrant> {
  if (!tokenReuse) return issueTokenForUser(dependencies, user, order);
  const mapping = await dependencies.store.get(user);
  const reused = mapping && tokenReuse.find(user, order, mapping);
  if (reused) {
    dependencies.acs.tokensReused++; // the request log line counts it (src/telemetry.ts)
    return reused;
  }
  const requestedAt = tokenReuse.now();
  const grant = await issueTokenForUser(dependencies, user, order);
  tokenReuse.remember(user, order, grant, requestedAt);
  return grant;
}
