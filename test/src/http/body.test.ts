import functions from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MAX_BODY_BYTES, readJsonBody } from '../../../src/http/body.js';
import { ProblemError } from '../../../src/http/problem.js';

const schema = z.strictObject({
  count: z.number().int().min(1, 'must be at least 1'),
  name: z.string().optional(),
});

function request(body: string | Uint8Array | undefined, headers: Record<string, string> = {}) {
  return new functions.HttpRequest({
    method: 'POST',
    url: 'http://127.0.0.1/api/x',
    headers,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? { string: body } : { bytes: body } }),
  });
}

async function problemOf(promise: Promise<unknown>): Promise<ProblemError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof ProblemError)) throw new Error(`expected a ProblemError, got ${String(error)}`);
  return error;
}

const json = { 'content-type': 'application/json' };

describe('readJsonBody', () => {
  it('parses a valid JSON body, with or without a charset or a +json type', async () => {
    await expect(readJsonBody(request('{"count": 2}', json), schema)).resolves.toEqual({ count: 2 });
    await expect(
      readJsonBody(request('{"count": 3}', { 'content-type': 'application/json; charset=utf-8' }), schema),
    ).resolves.toEqual({ count: 3 });
    await expect(
      readJsonBody(request('{"count": 4}', { 'content-type': 'application/merge-patch+json' }), schema),
    ).resolves.toEqual({ count: 4 });
  });

  it('returns undefined for an empty body, whatever the content type', async () => {
    await expect(readJsonBody(request(undefined), schema)).resolves.toBeUndefined();
    await expect(
      readJsonBody(request('', { 'content-type': 'text/plain' }), schema),
    ).resolves.toBeUndefined();
  });

  it('answers 415 for a body that is not declared as JSON', async () => {
    const cases: Record<string, string>[] = [
      {},
      { 'content-type': 'text/plain' },
      { 'content-type': 'application/x-www-form-urlencoded' },
    ];
    for (const headers of cases) {
      const error = await problemOf(readJsonBody(request('{"count": 1}', headers), schema));
      expect(error.type).toBe('unsupported-media-type');
    }
  });

  it('answers 413 for a body over the limit, declared or not', async () => {
    const large = new Uint8Array(MAX_BODY_BYTES + 1).fill(0x20);
    expect((await problemOf(readJsonBody(request(large, json), schema))).type).toBe('payload-too-large');
    const declared = request('{}', { ...json, 'content-length': String(10 * MAX_BODY_BYTES) });
    expect((await problemOf(readJsonBody(declared, schema))).type).toBe('payload-too-large');
    const atLimit = `{"count":1}${' '.repeat(MAX_BODY_BYTES - 11)}`;
    await expect(readJsonBody(request(atLimit, json), schema)).resolves.toEqual({ count: 1 });
  });

  it('answers 400 for malformed JSON and for invalid UTF-8', async () => {
    for (const body of ['{"count":', 'null x', new Uint8Array([0x7b, 0xff, 0x7d])]) {
      const error = await problemOf(readJsonBody(request(body, json), schema));
      expect(error.type).toBe('invalid-request');
      expect(error.options.errors).toEqual([{ name: 'body', reason: 'is not valid JSON' }]);
    }
  });

  it('answers 400 naming each invalid field, without echoing the input', async () => {
    const error = await problemOf(
      readJsonBody(request('{"count": 0, "name": 5, "secret": "hunter2"}', json), schema),
    );
    expect(error.type).toBe('invalid-request');
    expect(error.options.errors).toEqual(
      expect.arrayContaining([
        { name: 'count', reason: 'must be at least 1' },
        { name: 'name', reason: 'must be a string' },
        { name: 'secret', reason: 'is not a known field' },
      ]),
    );
    expect(JSON.stringify(error.options.errors)).not.toContain('hunter2');
  });

  it('answers 400 when the JSON is not an object', async () => {
    const error = await problemOf(readJsonBody(request('[1,2]', json), schema));
    expect(error.options.errors).toEqual([{ name: 'body', reason: 'must be a JSON object' }]);
  });
});
