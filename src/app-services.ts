import type { AcsGateway } from './acs/client.js';
import { routeDefiner } from './http/define-route.js';
import type { AuthenticatedScope, PipelineServices, RequestScope } from './http/pipeline.js';
import type { RouteDefinition } from './http/route-table.js';
import type { IdentityStore } from './identities/identity-store.js';
import type { Settings } from './settings.js';
import type { TokenReuse } from './tokens/token-reuse.js';

/**
 * Everything an operation needs, built once per process (or once per local host) from the settings by the
 * composition root, src/services.ts. Declared here, below the operations, so that they and the root both import it
 * and no import runs back up.
 */
export interface Services extends PipelineServices {
  readonly settings: Settings;
  /** Starts each request's AcsSession (its own time budget and call count). */
  readonly acsGateway: AcsGateway;
  /** Every user's record; read once per request, never cached, so every instance sees every change at once. */
  readonly store: IdentityStore;
  /** Tokens issued earlier, handed back to a user asking again (TOKEN_REUSE); undefined when off. */
  readonly reuse: TokenReuse | undefined;
}

/** What an open route's operation sees. */
export type Scope = RequestScope<Services>;
/** What an authenticated route's operation sees: the caller is verified. */
export type UserScope = AuthenticatedScope<Services>;
/** One route of src/routes.ts. */
export type Route = RouteDefinition<Services>;

/** A route of src/routes.ts from its declaration (access, inputs, docs, operation): see src/http/define-route.ts. */
export const defineRoute = routeDefiner<Services>();
