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
 * One spelling per address: an IPv4-mapped IPv6 address is its IPv4 address, IPv6 is lower case and compressed
 * (RFC 5952), a zone index is dropped.
 */
export function clientAddress(headers: Headers): string | undefined {
  const hops = (headers.get('x-forwarded-for') ?? '').split(',').map((hop) => hop.trim());
  const address = withoutPort(hops.at(-1) ?? '').replace(/%.*$/, '');
  const version = isIP(address);
  if (version === 4) return address;
  if (version !== 6) return undefined;
  const groups = ipv6Groups(address);
  const mapped = groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
  return mapped ? ipv4Of(groups[6]!, groups[7]!) : compressed(groups);
}

/**
 * The key the failed-authentication limit counts an address under: an IPv4 address as it is, an IPv6 address by
 * its /64. One subscriber, host or cloud VM gets a whole /64 (RFC 6177; providers hand out /64 or larger), so
 * counting single IPv6 addresses would give an attacker 2^64 fresh buckets.
 */
export function addressLimitKey(address: string): string {
  if (isIP(address) !== 6) return address;
  return `${compressed([...ipv6Groups(address).slice(0, 4), 0, 0, 0, 0])}/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (a trailing dotted IPv4 part included). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) =>
    part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16));
  const front = parse(head);
  const back = tail === undefined ? [] : parse(tail);
  return [...front, ...Array(8 - front.length - back.length).fill(0), ...back];
}

function ipv4Of(high: number, low: number): string {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/** RFC 5952, 4.2: the longest run of two or more zero groups (the first of equals) becomes `::`. */
function compressed(groups: number[]): string {
  let best = { start: -1, length: 0 };
  for (let start = 0; start < 8; ) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) length++;
    if (length > best.length) best = { start, length };
    start += length || 1;
  }
  const hex = groups.map((group) => group.toString(16));
  if (best.length < 2) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
}
