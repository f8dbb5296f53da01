import { createHash } from 'node:crypto';

/**
 * Table keys forbid `/ \ # ?` and control characters and are limited to 1 KiB, while issuers and user ids are
 * arbitrary strings. Short well-formed strings become `b` + base64url of their UTF-8 (reversible, readable with a
 * decoder); long ones, and strings with lone surrogates (which UTF-8 cannot carry), become `h` + a SHA-256 of their
 * UTF-16 code units. The prefixes keep the two forms apart, so distinct strings never share a key.
 */
const MAX_ENCODED_LENGTH = 400;

export function toTableKey(value: string): string {
  const utf8 = Buffer.from(value, 'utf8');
  if (utf8.toString('utf8') === value) {
    const encoded = utf8.toString('base64url');
    if (encoded.length <= MAX_ENCODED_LENGTH) return `b${encoded}`;
  }
  return `h${createHash('sha256').update(Buffer.from(value, 'utf16le')).digest('base64url')}`;
}
