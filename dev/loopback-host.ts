import { isIP } from 'node:net';

/** `name[:port]`: a DNS name or IPv4 address, or an IPv6 address in brackets; nothing else (no userinfo, no path). */
const HOST_HEADER = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/;

/**
 * Whether a Host header names this machine: `localhost`, an address in 127.0.0.0/8, or `[::1]`, with any port, or
 * one of `ownNames`. Development servers answer only these, so a page on another site cannot reach them through
 * DNS rebinding (its requests carry the attacker's host name, which resolves to 127.0.0.1 only after the page
 * loaded). A missing Host is refused too: every HTTP/1.1 client sends one.
 */
export function isLoopbackHost(host: string | undefined, ownNames: readonly string[] = []): boolean {
  const match = host === undefined ? null : HOST_HEADER.exec(host);
  if (!match) return false;
  if (match[2] !== undefined && Number(match[2]) > 65_535) return false;
  const name = match[1]!.toLowerCase();
  if (name === 'localhost' || name === '[::1]') return true;
  if (isIP(name) === 4 && name.startsWith('127.')) return true;
  return ownNames.some((own) => own.toLowerCase() === name);
}

/**
 * The Host names a server bound to `bindHost` answers besides loopback ones: the literal address it was explicitly
 * bound to (e.g. a LAN address for a test host), never a wildcard and never a DNS name (DNS rebinding always
 * carries a name).
 */
export function boundAddressNames(bindHost: string): string[] {
  const bound = bindHost.toLowerCase();
  if (bound === '0.0.0.0' || bound === '::') return [];
  if (isIP(bound) === 4) return [bound];
  if (isIP(bound) === 6) return [`[${bound}]`];
  return [];
}

/** The reason a refused Host gets, naming what is accepted. */
export const LOOPBACK_HOST_REQUIRED =
  'The Host header must name this machine (localhost, 127.0.0.0/8 or [::1]); this development server refuses ' +
  'other host names so that pages on other sites cannot reach it through DNS rebinding.';
