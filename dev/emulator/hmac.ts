import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** How far `x-ms-date` may be from the emulator's clock, as the service tolerates clock skew. */
export const maxClockSkewMs = 15 * 60 * 1000;

const authorizationPattern = /^HMAC-SHA256 SignedHeaders=([^&]+)&Signature=(.+)$/;
const requiredSignedHeaders = 'x-ms-date;host;x-ms-content-sha256';

export interface SignedRequest {
  method: string;
  /** The raw request target, still percent-encoded: path plus `?query` when there is one. */
  pathAndQuery: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export type HmacVerdict = { ok: true } | { ok: false; message: string };

export function contentHash(body: Buffer | string): string {
  return createHash('sha256').update(body).digest('base64');
}

/** The signature the SDK computes (communication-common's access key credential policy). */
export function computeSignature(
  accessKey: string,
  parts: { method: string; pathAndQuery: string; date: string; host: string; contentHash: string },
): string {
  const stringToSign = `${parts.method.toUpperCase()}\n${parts.pathAndQuery}\n${parts.date};${parts.host};${parts.contentHash}`;
  return createHmac('sha256', Buffer.from(accessKey, 'base64')).update(stringToSign, 'utf8').digest('base64');
}

/**
 * Verifies an HMAC-SHA256 signed request. Replays of a signed request are accepted on purpose: the SDK signs
 * before its retry policy runs, so every retry carries the original date and signature.
 */
export function verifyHmac(accessKey: string, request: SignedRequest, nowMs: number): HmacVerdict {
  const authorization = header(request.headers, 'authorization');
  const date = header(request.headers, 'x-ms-date');
  const host = header(request.headers, 'host');
  const claimedHash = header(request.headers, 'x-ms-content-sha256');
  const match = authorization ? authorizationPattern.exec(authorization) : null;
  if (!match || !date || !host || !claimedHash) {
    return { ok: false, message: 'Denied by the resource provider.' };
  }
  if (match[1]?.toLowerCase() !== requiredSignedHeaders) {
    return { ok: false, message: `SignedHeaders must be '${requiredSignedHeaders}'.` };
  }
  const dateMs = Date.parse(date);
  if (Number.isNaN(dateMs) || Math.abs(nowMs - dateMs) > maxClockSkewMs) {
    return {
      ok: false,
      message: "Request 'x-ms-date' is missing, malformed or too far from the current time.",
    };
  }
  if (claimedHash !== contentHash(request.body)) {
    return { ok: false, message: "Request 'x-ms-content-sha256' differs from generated content hash." };
  }
  const expected = computeSignature(accessKey, {
    method: request.method,
    pathAndQuery: request.pathAndQuery,
    date,
    host,
    contentHash: claimedHash,
  });
  if (!safeEqual(expected, match[2] ?? '')) return { ok: false, message: 'Denied by the resource provider.' };
  return { ok: true };
}

function header(headers: SignedRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
