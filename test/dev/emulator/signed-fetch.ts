import type { RestError } from '@azure/core-rest-pipeline';
import { computeSignature, contentHash } from '../../../dev/emulator/hmac.js';
import type { RunningEmulator } from '../../../dev/emulator/index.js';
import type { Stats } from '../../../dev/emulator/state.js';

export interface SignedRequestOptions {
  method: string;
  /** Path and query as sent, e.g. '/identities?api-version=2023-10-01'. */
  pathAndQuery: string;
  body?: string;
  /** Signed with this key instead of the emulator's. */
  key?: string;
  /** Sign these parts instead of what is sent (to model tampering in transit). */
  sign?: Partial<{ method: string; pathAndQuery: string; date: string; body: string }>;
  /** Headers sent in place of (or, with undefined, instead of) the computed ones. */
  headers?: Record<string, string | undefined>;
}

/** A request signed the way the SDK signs it, built by hand so tests can tamper with any part of it. */
export function signedFetch(emulator: RunningEmulator, options: SignedRequestOptions): Promise<Response> {
  const { url, init } = signedRequest(emulator, options);
  return fetch(url, init);
}

export function signedRequest(
  emulator: RunningEmulator,
  options: SignedRequestOptions,
): { url: URL; init: RequestInit } {
  const url = new URL(options.pathAndQuery, emulator.endpoint);
  const date = new Date().toUTCString();
  const body = options.body ?? '';
  const signedBody = options.sign?.body ?? body;
  const signature = computeSignature(options.key ?? emulator.accessKey, {
    method: options.sign?.method ?? options.method,
    pathAndQuery: options.sign?.pathAndQuery ?? options.pathAndQuery,
    date: options.sign?.date ?? date,
    host: url.host,
    contentHash: contentHash(signedBody),
  });
  const headers: Record<string, string | undefined> = {
    'content-type': 'application/json',
    'x-ms-date': options.sign?.date ?? date,
    'x-ms-content-sha256': contentHash(signedBody),
    authorization: `HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=${signature}`,
    ...options.headers,
  };
  const definedHeaders = Object.fromEntries(
    Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  return {
    url,
    init: {
      method: options.method,
      headers: definedHeaders,
      ...(options.method === 'GET' || options.method === 'DELETE' ? {} : { body }),
    },
  };
}

export async function emulatorJson<T>(
  emulator: RunningEmulator,
  path: string,
  init?: RequestInit,
): Promise<T> {
  const response = await fetch(new URL(path, emulator.endpoint), init);
  return (await response.json()) as T;
}

export interface IntrospectionResult {
  active: boolean;
  inactiveReason?: string;
  communicationUserId?: string;
  scopes?: string[];
  expiresOn?: string;
}

export function introspect(emulator: RunningEmulator, token: string): Promise<IntrospectionResult> {
  return emulatorJson(emulator, 'emulator/introspect', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
}

export function stats(emulator: RunningEmulator): Promise<Stats> {
  return emulatorJson(emulator, 'emulator/stats');
}

/** The SDK's error from a call that must fail; fails the test if the call succeeds. */
export async function rejection(promise: Promise<unknown>): Promise<RestError> {
  try {
    await promise;
  } catch (error) {
    return error as RestError;
  }
  throw new Error('expected the call to fail');
}
