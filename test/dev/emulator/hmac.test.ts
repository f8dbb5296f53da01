import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeSignature, contentHash, verifyHmac } from '../../../dev/emulator/hmac.js';
import { type RunningEmulator, startEmulator } from '../../../dev/emulator/index.js';
import { type SignedRequestOptions, signedFetch, signedRequest, stats } from './signed-fetch.js';

describe('the SDK test vectors', () => {
  const vector = {
    method: 'GET',
    date: 'Wed, 13 Apr 2022 18:09:12 GMT',
    host: 'example.com',
    contentHash: contentHash(''),
  };

  it('hashes an empty body as the SDK does', () => {
    expect(contentHash('')).toBe('47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=');
  });

  it('signs a path with a query', () => {
    expect(computeSignature('pw==', { ...vector, pathAndQuery: '/testPath?testQuery=test' })).toBe(
      'DGdgwggJWnQyc6EHjR/Vbqg1ES64KpD6U2XwTDDj3tU=',
    );
  });

  it('signs a path without a query', () => {
    expect(computeSignature('pw==', { ...vector, pathAndQuery: '/testPath' })).toBe(
      '+6tWkg3lNKVjQHHmxkdGQcJjUgzclsWTMebnuCz1ngU=',
    );
  });

  it('verifies the vector request', () => {
    const headers = {
      authorization:
        'HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=DGdgwggJWnQyc6EHjR/Vbqg1ES64KpD6U2XwTDDj3tU=',
      'x-ms-date': vector.date,
      host: vector.host,
      'x-ms-content-sha256': vector.contentHash,
    };
    const request = {
      method: 'GET',
      pathAndQuery: '/testPath?testQuery=test',
      headers,
      body: Buffer.alloc(0),
    };
    expect(verifyHmac('pw==', request, Date.parse(vector.date))).toEqual({ ok: true });
    expect(verifyHmac('pw==', { ...request, pathAndQuery: '/testPath' }, Date.parse(vector.date)).ok).toBe(
      false,
    );
  });
});

describe('HMAC authentication over HTTP', () => {
  let emulator: RunningEmulator;
  const create: SignedRequestOptions = {
    method: 'POST',
    pathAndQuery: '/identities?api-version=2023-10-01',
    body: '{"createTokenWithScopes":["chat"]}',
  };

  beforeAll(async () => {
    emulator = await startEmulator();
  });

  afterAll(async () => {
    await emulator.close();
  });

  it('accepts a correctly signed request', async () => {
    expect((await signedFetch(emulator, create)).status).toBe(201);
  });

  it.each<[string, Partial<SignedRequestOptions>]>([
    ['a wrong key', { key: Buffer.alloc(32, 7).toString('base64') }],
    ['a changed body', { sign: { body: '{"createTokenWithScopes":["voip"]}' } }],
    ['a changed path', { sign: { pathAndQuery: '/identitiez?api-version=2023-10-01' } }],
    ['a changed query', { sign: { pathAndQuery: '/identities?api-version=2022-10-01' } }],
    ['a changed method', { sign: { method: 'PUT' } }],
    [
      'a date other than the signed one',
      { headers: { 'x-ms-date': new Date(Date.now() - 1000).toUTCString() } },
    ],
    ['a date far from now', { sign: { date: new Date(Date.now() - 60 * 60_000).toUTCString() } }],
    [
      'a body hash that does not match the body',
      { headers: { 'x-ms-content-sha256': contentHash('other') } },
    ],
    ['no Authorization header', { headers: { authorization: undefined } }],
    ['no x-ms-date header', { headers: { 'x-ms-date': undefined } }],
    ['no x-ms-content-sha256 header', { headers: { 'x-ms-content-sha256': undefined } }],
    ['another authorization scheme', { headers: { authorization: 'SharedKey abc' } }],
  ])('refuses %s with 401 and the service error body', async (_, tampering) => {
    const before = await stats(emulator);
    const response = await signedFetch(emulator, { ...create, ...tampering });
    expect(response.status).toBe(401);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('Denied');
    expect(body.error.message).not.toContain(emulator.accessKey);
    const after = await stats(emulator);
    expect(after.rejected.authentication).toBe(before.rejected.authentication + 1);
    expect(after.identities.active).toBe(before.identities.active);
  });

  it('accepts a replayed request with the same date and signature, as SDK retries are', async () => {
    const { url, init } = signedRequest(emulator, create);
    const first = await fetch(url, init);
    const replay = await fetch(url, init);
    expect([first.status, replay.status]).toEqual([201, 201]);
  });

  it('refuses a bearer token over plain HTTP', async () => {
    const response = await fetch(new URL('/identities?api-version=2023-10-01', emulator.endpoint), {
      method: 'POST',
      headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.e30.' },
    });
    expect(response.status).toBe(401);
  });
});
