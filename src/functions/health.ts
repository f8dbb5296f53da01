import type { HttpResponseInit } from '@azure/functions';
import { z } from 'zod';
import { defineRoute, type Route, type Scope } from '../app-services.js';
import { ProblemError } from '../http/problem.js';
import { storeUnavailableDetail } from '../identities/unavailable-detail.js';

export const healthResponseSchema = z.object({ status: z.literal('ok') });

/** GET /api/health: settings are valid (else the pipeline answers 503) and the identity store answers. */
export async function health({ services }: Scope): Promise<HttpResponseInit> {
  try {
    await services.store.ping();
  } catch {
    throw new ProblemError('unavailable', storeUnavailableDetail(services.settings.store), {
      headers: { 'Retry-After': '5' },
    });
  }
  const body: z.input<typeof healthResponseSchema> = { status: 'ok' };
  return { status: 200, jsonBody: body };
}

export const healthRoute: Route = defineRoute({
  name: 'health',
  methods: ['GET'],
  route: 'health',
  access: 'open',
  operation: health,
  docs: {
    summary: 'Whether the settings are valid and the identity store answers',
    description: 'Needs no authentication and reveals no setting.',
    tags: ['Operations'],
    responses: { 200: { description: 'The service can serve tokens.', body: healthResponseSchema } },
    problems: ['unavailable'],
  },
});
