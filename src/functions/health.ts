import type { HttpResponseInit } from '@azure/functions';
import type { RequestScope } from '../http/pipeline.js';
import { ProblemError } from '../http/problem.js';

/** GET /api/health: settings are valid (else the pipeline answers 503) and the identity store answers. */
export async function health({ services }: RequestScope): Promise<HttpResponseInit> {
  try {
    await services.store.ping();
  } catch {
    throw new ProblemError('unavailable', 'The identity store does not answer.', {
      headers: { 'Retry-After': '5' },
    });
  }
  return { status: 200, jsonBody: { status: 'ok' } };
}
