import type { HttpResponseInit } from '@azure/functions';
import { z } from 'zod';

/**
 * Every kind of error the service answers with. `type` URIs are stable identifiers clients may switch on
 * (RFC 9457 §3.1.1); titles are constant per type, `detail` explains this occurrence.
 */
export const problemTypes = {
  'invalid-request': { status: 400, title: 'The request is invalid' },
  unauthenticated: { status: 401, title: 'The caller could not be authenticated' },
  forbidden: { status: 403, title: 'The caller may not do this' },
  'not-found': { status: 404, title: 'Not found' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'payload-too-large': { status: 413, title: 'The request body is too large' },
  'unsupported-media-type': { status: 415, title: 'The request body must be JSON' },
  'header-too-large': { status: 431, title: 'The request headers are too large' },
  'too-many-requests': { status: 429, title: 'Too many requests' },
  internal: { status: 500, title: 'Internal error' },
  'upstream-failure': { status: 502, title: 'Azure Communication Services failed' },
  unavailable: { status: 503, title: 'The service is temporarily unavailable' },
  misconfigured: { status: 503, title: 'The service is not configured correctly' },
} as const;

export type ProblemType = keyof typeof problemTypes;

export const PROBLEM_TYPE_BASE = 'urn:acs-token-service:problem:';
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** One invalid input: `name` is the field (body property, query parameter or header), `reason` what is wrong. */
export const fieldErrorSchema = z.object({
  name: z.string().meta({ description: 'The invalid field: a body property, query parameter or header.' }),
  reason: z.string().meta({ description: 'What is wrong with it.' }),
});
export type FieldError = z.infer<typeof fieldErrorSchema>;

/** The body of every error response (RFC 9457); the OpenAPI document describes errors with this same schema. */
export const problemDocumentSchema = z
  .object({
    type: z
      .string()
      .meta({ description: `A stable URI identifying the kind of problem (${PROBLEM_TYPE_BASE}<kind>).` }),
    title: z.string().meta({ description: 'A short summary, constant per type.' }),
    status: z.int().meta({ description: 'The HTTP status code.' }),
    detail: z.string().meta({ description: 'What went wrong in this occurrence.' }),
    invocationId: z.string().meta({ description: 'The id of the request in the service logs.' }),
    errors: z.array(fieldErrorSchema).optional().meta({ description: 'Each invalid input (400 only).' }),
  })
  .meta({ title: 'Problem' });

export interface ProblemInit {
  type: ProblemType;
  detail: string;
  invocationId: string;
  errors?: readonly FieldError[];
  headers?: Record<string, string>;
}

/** The one builder of every error response. */
export function problem({ type, detail, invocationId, errors, headers }: ProblemInit): HttpResponseInit {
  const { status, title } = problemTypes[type];
  return {
    status,
    headers: { 'Content-Type': PROBLEM_CONTENT_TYPE, ...headers },
    jsonBody: {
      type: `${PROBLEM_TYPE_BASE}${type}`,
      title,
      status,
      detail,
      invocationId,
      ...(errors && errors.length > 0 ? { errors: [...errors] } : {}),
    } satisfies z.input<typeof problemDocumentSchema>,
  };
}

/** An error a handler throws to end the request with a problem; the pipeline turns it into the response. */
export class ProblemError extends Error {
  override readonly name = 'ProblemError';
  readonly code = 'ERR_PROBLEM';

  constructor(
    readonly type: ProblemType,
    readonly detail: string,
    readonly options: {
      errors?: readonly FieldError[];
      headers?: Record<string, string>;
      /** Why, as a code for the request log line only (`scope_not_allowed`); never sent to the client. */
      reason?: string;
    } = {},
  ) {
    super(detail);
  }

  /** The problem it is answered with (src/http/error-answers.ts); the log-only reason stays out. */
  get problem(): Omit<ProblemInit, 'invocationId'> {
    const { reason: _logOnly, ...options } = this.options;
    return { type: this.type, detail: this.detail, ...options };
  }
}
