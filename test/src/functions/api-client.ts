import { expect } from 'vitest';
import type { z } from 'zod';
import type { DevClaims } from '../../../dev/dev-issuer.js';
import type { tokenResponseSchema } from '../../../src/functions/issue-token.js';
import { PROBLEM_CONTENT_TYPE, type problemDocumentSchema } from '../../../src/http/problem.js';
import type { RunningService, ServiceOptions } from '../../support/service.js';

/** Settings every lifecycle test service gets: no rate limit in the way of a test's bursts of calls. */
export const LIFECYCLE_TEST_ENV: NonNullable<ServiceOptions['env']> = { RATE_LIMIT_PER_MINUTE: '100000' };

/** A problem document, typed from the schema the service builds it with. */
export type ProblemBody = z.output<typeof problemDocumentSchema>;

/** A token answer, typed from the schema the token route builds it with. */
export type TokenBody = z.output<typeof tokenResponseSchema>;

/**
 * An API call as `user` (a dev issuer user name, with extra claims such as roles), or unauthenticated with null; made
 * in-process (`RunningService.call`).
 */
export async function callAs(
  service: RunningService,
  user: string | null,
  method: string,
  path: string,
  options: { claims?: DevClaims; body?: unknown } = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (user !== null) headers.Authorization = `Bearer ${await service.tokenFor(user, options.claims)}`;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  return service.call(path, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
}

export async function tokenAs(service: RunningService, user: string, claims?: DevClaims): Promise<TokenBody> {
  const response = await callAs(service, user, 'POST', 'token', claims ? { claims } : {});
  expect(response.status).toBe(200);
  return (await response.json()) as TokenBody;
}

export async function expectProblem(response: Response, status: number, type?: string): Promise<ProblemBody> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toBe(PROBLEM_CONTENT_TYPE);
  expect(response.headers.get('cache-control')).toBe('no-store');
  const body = (await response.json()) as ProblemBody;
  expect(body.status).toBe(status);
  if (type !== undefined) expect(body.type).toBe(`urn:acs-token-service:problem:${type}`);
  return body;
}

/** The audit lines the service logged, parsed. */
export function auditLines(service: RunningService): Record<string, unknown>[] {
  return service.logs
    .map(({ line }) => line)
    .filter((line) => line.includes('"event":"audit"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
