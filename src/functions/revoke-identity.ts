import type { HttpResponseInit } from '@azure/functions';
import { defineRoute, type Route, type UserScope } from '../app-services.js';
import { ProblemError } from '../http/problem.js';
import { durableUser, revokeAudited } from './identity-actions.js';

/** POST /api/identity/revoke: every token issued to the caller so far stops working; its identity stays. */
export async function revokeIdentity(scope: UserScope): Promise<HttpResponseInit> {
  const result = await revokeAudited(scope, 'self', durableUser(scope.caller));
  if (result.outcome === 'not_found') {
    throw new ProblemError('not-found', 'You have no ACS identity, so there is nothing to revoke.');
  }
  return { status: 204 };
}

export const revokeIdentityRoute: Route = defineRoute({
  name: 'revokeIdentity',
  methods: ['POST'],
  route: 'identity/revoke',
  access: 'user',
  operation: revokeIdentity,
  docs: {
    summary: 'Revokes every token issued to the caller so far',
    description: 'The identity stays; the next token request gets a working token.',
    tags: ['Identity'],
    responses: { 204: { description: 'The caller’s earlier tokens no longer work.' } },
    problems: ['not-found', 'upstream-failure', 'unavailable'],
  },
});
