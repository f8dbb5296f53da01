import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The recordings answer successes as `application/json; charset=utf-8` and errors as plain `application/json`
 * (e.g. Python SDK recording test_get_token_with_invalid_custom_expirations[min_invalid_mins-59]).
 */
const successContentType = 'application/json; charset=utf-8';
const errorContentType = 'application/json';
const maxBodyBytes = 1024 * 1024;

export interface AcsError {
  code: string;
  message: string;
  target?: string;
}

/** An answer worked out before it is written, so it can be held back for the emulated network latency. */
export interface Reply {
  status: number;
  /** Omitted for 204. */
  body?: unknown;
  headers: Record<string, string>;
}

export class BodyTooLargeError extends Error {}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBodyBytes) throw new BodyTooLargeError();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function jsonReply(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return { status, body, headers };
}

export function errorReply(status: number, error: AcsError, headers: Record<string, string> = {}): Reply {
  return { status, body: { error }, headers };
}

export function writeReply(res: ServerResponse, reply: Reply): void {
  if (reply.body === undefined) {
    res.writeHead(reply.status, reply.headers);
    res.end();
    return;
  }
  const payload = JSON.stringify(reply.body);
  const isError = reply.status >= 400;
  res.writeHead(reply.status, {
    ...reply.headers,
    'content-type': isError ? errorContentType : successContentType,
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  writeReply(res, jsonReply(status, body, headers));
}

export function sendError(
  res: ServerResponse,
  status: number,
  error: AcsError,
  headers: Record<string, string> = {},
): void {
  writeReply(res, errorReply(status, error, headers));
}

export function sendNoContent(res: ServerResponse): void {
  writeReply(res, { status: 204, headers: {} });
}

/** Parses a JSON body; an empty body counts as absent. */
export function parseJson(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  if (body.length === 0) return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}
