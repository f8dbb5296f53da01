import { describe, expect, it } from 'vitest';
import { PROBLEM_CONTENT_TYPE, ProblemError, problem } from '../../../src/http/problem.js';

describe('problem', () => {
  it('builds an RFC 9457 document with the invocation id', () => {
    const response = problem({ type: 'not-found', detail: 'No such route.', invocationId: 'inv-1' });
    expect(response.status).toBe(404);
    expect(response.headers).toEqual({ 'Content-Type': PROBLEM_CONTENT_TYPE });
    expect(response.jsonBody).toEqual({
      type: 'urn:acs-token-service:problem:not-found',
      title: 'Not found',
      status: 404,
      detail: 'No such route.',
      invocationId: 'inv-1',
    });
  });

  it('names each invalid field of a 400 and keeps extra headers', () => {
    const response = problem({
      type: 'invalid-request',
      detail: 'The body has invalid fields.',
      invocationId: 'inv-2',
      errors: [{ name: 'scopes[0]', reason: 'must be one of: chat' }],
      headers: { 'Retry-After': '5' },
    });
    expect(response.status).toBe(400);
    expect(response.headers).toEqual({ 'Content-Type': PROBLEM_CONTENT_TYPE, 'Retry-After': '5' });
    expect(response.jsonBody.errors).toEqual([{ name: 'scopes[0]', reason: 'must be one of: chat' }]);
  });

  it('has one status per type', () => {
    const statuses = (
      [
        'unauthenticated',
        'forbidden',
        'payload-too-large',
        'unsupported-media-type',
        'upstream-failure',
        'unavailable',
        'misconfigured',
      ] as const
    ).map((type) => problem({ type, detail: 'x', invocationId: 'i' }).status);
    expect(statuses).toEqual([401, 403, 413, 415, 502, 503, 503]);
  });

  it('turns a thrown ProblemError into the same document', () => {
    const error = new ProblemError('forbidden', 'No.', {
      headers: { 'WWW-Authenticate': 'Bearer' },
      reason: 'log_only',
    });
    expect(problem({ ...error.problem, invocationId: 'inv-3' })).toEqual(
      problem({
        type: 'forbidden',
        detail: 'No.',
        invocationId: 'inv-3',
        headers: { 'WWW-Authenticate': 'Bearer' },
      }),
    );
  });
});
