import { isIP } from 'node:net';

/** `1.2.3.4:5678` → `1.2.3.4`, `[::1]:5678` → `::1`; a bare IPv6 address stays as it is. */
function withoutPort(hop: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracketed) return bracketed[1]!;
  const ipv4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(hop);
  return ipv4WithPort ? ipv4WithPort[1]! : hop;
}

/**
 * The address the platform accepted the connection from: the LAST `X-Forwarded-For` hop. App Service's front end
 * appends the socket address it saw (with its port) to whatever the client sent, so earlier hops are the client's
 * own words and would let an attacker pick a fresh address per request. Behind another proxy (Front Door, API
 * Management) the last hop is that proxy. Undefined when the header is missing or its last hop is not an address.
 */
export function clientAddress(headers: Headers): string | undefined {
  const hops = (headers.get('x-forwarded-for') ?? '').split(',').map((hop) => hop.trim());
  const address = withoutPort(hops.at(-1) ?? '').toLowerCase();
  return isIP(address) ? address : undefined;
}
