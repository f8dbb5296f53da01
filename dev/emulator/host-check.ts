import { isIP } from 'node:net';

/**
 * Whether a Host header names this development server: a loopback name or address (127.0.0.0/8, localhost, [::1]),
 * with or without a port, or the literal address it was explicitly bound to. Anything else is refused so that a web
 * page whose domain is re-pointed at 127.0.0.1 (DNS rebinding) cannot drive the emulator from a browser: such a
 * request carries the page's own domain in Host. The SDK signs `host` as the endpoint it was given, so clients
 * that use the emulator's endpoint are unaffected.
 */
export function isAllowedHost(hostHeader: string | undefined, bindHost: string): boolean {
  if (!hostHeader) return false;
  const host = hostName(hostHeader.toLowerCase());
  if (host === undefined) return false;
  if (host === 'localhost' || host === '::1') return true;
  if (isIP(host) === 4 && host.startsWith('127.')) return true;
  const bound = bindHost.toLowerCase();
  return isIP(bound) !== 0 && bound !== '0.0.0.0' && bound !== '::' && host === bound;
}

/** The host part of a Host header value, brackets removed from IPv6 literals; undefined if it is malformed. */
function hostName(value: string): string | undefined {
  const match = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::\d{1,5})?$/.exec(value);
  return match?.[1] ?? match?.[2];
}
