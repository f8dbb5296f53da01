import type { HttpResponseInit } from '@azure/functions';
import { z } from 'zod';
import { defineRoute, type Route, type UserScope } from '../app-services.js';
import { ProblemError } from '../http/problem.js';
import { hasIdentity } from '../identities/identity-store.js';
import { durableUser } from './identity-actions.js';

export const identityResponseSchema = z.object({ communicationUserId: z.string() });

/** GET /api/identity: the caller's ACS identity, if it has one yet (its first token request creates it). */
export async function getIdentity({ services, caller }: UserScope): Promise<HttpResponseInit> {
  const current = await services.store.read(durableUser(caller));
  if (!hasIdentity(current?.record)) {
    throw new ProblemError('not-found', 'You have no ACS identity yet; POST /api/token creates it.');
  }
  const body: z.input<typeof identityResponseSchema> = {
    communicationUserId: current.record.communicationUserId,
  };
  return { status: 200, jsonBody: body };
}

export const getIdentityRoute: Route = defineRoute({
  name: 'getIdentity',
  methods: ['GET'],
  route: 'identity',
  access: 'user',
  operation: getIdentity,
  docs: {
    summary: "The caller's ACS identity",
    description: 'Makes no ACS call. 404 until the caller’s first token request creates the identity.',
    tags: ['Identity'],
    responses: { 200: { description: 'The caller’s ACS identity.', body: identityResponseSchema } },
    problems: ['not-found', 'unavailable'],
  },
});
