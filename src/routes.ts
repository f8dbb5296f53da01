import type { Route } from './app-services.js';
import { adminDeleteUserInBodyRoute, adminDeleteUserRoute } from './functions/admin-delete-user.js';
import { adminRevokeUserInBodyRoute, adminRevokeUserRoute } from './functions/admin-revoke-user.js';
import { deleteIdentityRoute } from './functions/delete-identity.js';
import { getIdentityRoute } from './functions/get-identity.js';
import { healthRoute } from './functions/health.js';
import { issueTeamsTokenRoute } from './functions/issue-teams-token.js';
import { issueTokenRoute } from './functions/issue-token.js';
import { notFoundRoute } from './functions/not-found.js';
import { openApiRoute } from './functions/openapi.js';
import { revokeIdentityRoute } from './functions/revoke-identity.js';
import { acceptPreflight } from './http/route-table.js';

/**
 * The one route table: src/index.ts registers it with the Functions host, dev/local-host.ts serves it. Each route is
 * defined beside its operation in src/functions/; the catch-all comes last.
 */
export const routes: readonly Route[] = acceptPreflight([
  issueTokenRoute,
  healthRoute,
  openApiRoute(() => routes),
  issueTeamsTokenRoute,
  getIdentityRoute,
  deleteIdentityRoute,
  revokeIdentityRoute,
  // Function names and route templates must not start with "admin" (reserved by the Functions host).
  adminRevokeUserRoute,
  adminDeleteUserRoute,
  adminRevokeUserInBodyRoute,
  adminDeleteUserInBodyRoute,
  notFoundRoute(() => routes),
]);
