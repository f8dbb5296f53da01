import type { HttpResponseInit } from '@azure/functions';
import { defineRoute, type Route, type UserScope } from '../app-services.js';
import { deleteAudited, durableUser } from './identity-actions.js';

/**
 * DELETE /api/identity: the caller's ACS identity is deleted (its tokens with it), then its mapping. Repeating it
 * is harmless (204 again); the caller's next token request creates a new identity.
 */
export async function deleteIdentity(scope: UserScope): Promise<HttpResponseInit> {
  await deleteAudited(scope, 'self', durableUser(scope.caller));
  return { status: 204 };
}

export const deleteIdentityRoute: Route = defineRoute({
  name: 'deleteIdentity',
  methods: ['DELETE'],
  route: 'identity',
  access: 'user',
  operation: deleteIdentity,
  docs: {
    summary: "Deletes the caller's ACS identity (and its tokens), then its mapping",
    description:
      'Repeating it is harmless (204). If ACS fails, the mapping is kept and the answer is 502/503: retry. The ' +
      'next token request creates a new identity.',
    tags: ['Identity'],
    responses: { 204: { description: 'The identity and its mapping are gone (or there was none).' } },
    problems: ['upstream-failure', 'unavailable'],
  },
});
