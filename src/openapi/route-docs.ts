import type { HttpMethod } from '@azure/functions';
import type { z } from 'zod';
import type { ProblemType } from '../http/problem.js';

export type SuccessStatus = 200 | 201 | 202 | 204 | 304;

export interface SuccessResponseDocs {
  description: string;
  /** The JSON body (the schema the handler builds it with); none for 204 and 304. */
  body?: z.ZodType;
  /** Headers the operation sets on this response: name to description. */
  headers?: Readonly<Record<string, string>>;
}

/** What a route's handler reads and answers, described with the zod schemas it validates with. */
export interface OperationDocs {
  summary: string;
  description?: string;
  /** The schema the handler parses the query string with (every value is a string on the wire). */
  query?: z.ZodObject;
  /** The JSON body the handler reads with readJsonBody; `required: false` when it accepts an empty body. */
  body?: { readonly schema: z.ZodType; readonly required: boolean };
  responses: Readonly<Partial<Record<SuccessStatus, SuccessResponseDocs>>>;
  /**
   * The problems this operation itself can answer. Those every route can give (413, 429, 500, 503), those of a
   * verified caller (401, 403, 503) and of a body or query (400, 415) are derived and need not be listed.
   */
  problems?: readonly ProblemType[];
}

/**
 * A route's entry in the OpenAPI document; `methods` refines the shared description per HTTP method. `body` is
 * documented on POST, PUT and PATCH, `query` on the other methods.
 */
export interface RouteDocs extends OperationDocs {
  tags?: readonly string[];
  /** The route template's parameters as the handler validates them; without it each one is a string. */
  params?: z.ZodObject;
  methods?: Readonly<Partial<Record<HttpMethod, Partial<OperationDocs>>>>;
}
