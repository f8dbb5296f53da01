import type { HttpRequest } from '@azure/functions';
import type { z } from 'zod';
import { ProblemError } from './problem.js';
import { fieldErrors } from './validation.js';

/** The largest request body any route accepts; larger bodies get 413 before they are buffered. */
export const MAX_BODY_BYTES = 16 * 1024;

const JSON_CONTENT_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;.*)?$/i;

/**
 * Refuses a declared body over `limit` on every route, before authentication, so a route that reads no body does
 * not quietly accept a huge one either.
 */
export function refuseOversizedBody(request: HttpRequest, limit = MAX_BODY_BYTES): void {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) {
    throw new ProblemError('payload-too-large', `The request body must not exceed ${limit} bytes.`);
  }
}

async function readBytesWithCap(request: HttpRequest, limit: number): Promise<Uint8Array> {
  refuseOversizedBody(request, limit);
  if (request.body === null) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw new ProblemError('payload-too-large', `The request body must not exceed ${limit} bytes.`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new ProblemError('invalid-request', 'The request body is not valid UTF-8 JSON.', {
      errors: [{ name: 'body', reason: 'is not valid JSON' }],
    });
  }
}

/**
 * Reads a JSON body validated by `schema`. An empty body yields undefined (the caller decides whether that is
 * allowed). Over MAX_BODY_BYTES: 413; not JSON by content type: 415; malformed: 400; schema mismatch: 400 naming
 * each field.
 */
export async function readJsonBody<Schema extends z.ZodType>(
  request: HttpRequest,
  schema: Schema,
): Promise<z.output<Schema> | undefined> {
  const bytes = await readBytesWithCap(request, MAX_BODY_BYTES);
  if (bytes.byteLength === 0) return undefined;
  if (!JSON_CONTENT_TYPE.test(request.headers.get('content-type') ?? '')) {
    throw new ProblemError('unsupported-media-type', 'Send the request body as application/json.', {
      headers: { 'Accept-Post': 'application/json' },
    });
  }
  return parseWith(schema, parseJson(bytes), 'body');
}

/** Validates `input` with `schema`, or throws a 400 problem naming every invalid field. */
export function parseWith<Schema extends z.ZodType>(
  schema: Schema,
  input: unknown,
  location: string,
): z.output<Schema> {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new ProblemError('invalid-request', `The ${location} has invalid fields.`, {
      errors: fieldErrors(result.error, location),
    });
  }
  return result.data;
}
