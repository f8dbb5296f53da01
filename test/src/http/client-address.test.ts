import { describe, expect, it } from 'vitest';
import { clientAddress } from '../../../src/http/client-address.js';

const forwardedFor = (value?: string) =>
  clientAddress(new Headers(value === undefined ? {} : { 'x-forwarded-for': value }));

describe('clientAddress', () => {
  it('reads the last X-Forwarded-For hop: the one the platform appended, not what the client claimed', () => {
    expect(forwardedFor('203.0.113.7')).toBe('203.0.113.7');
    expect(forwardedFor('10.0.0.1, 198.51.100.4:50123')).toBe('198.51.100.4');
    expect(forwardedFor('spoofed, 1.2.3.4, 203.0.113.9')).toBe('203.0.113.9');
  });

  it('drops the port App Service adds, for IPv4 and bracketed IPv6', () => {
    expect(forwardedFor('203.0.113.7:443')).toBe('203.0.113.7');
    expect(forwardedFor('[2001:db8::1]:5000')).toBe('2001:db8::1');
    expect(forwardedFor('[2001:DB8::1]')).toBe('2001:db8::1');
    expect(forwardedFor('2001:db8::2')).toBe('2001:db8::2');
  });

  it('gives undefined when there is no usable address', () => {
    expect(forwardedFor()).toBeUndefined();
    expect(forwardedFor('')).toBeUndefined();
    expect(forwardedFor('1.2.3.4, unknown')).toBeUndefined();
    expect(forwardedFor('not-an-address')).toBeUndefined();
    expect(forwardedFor('1.2.3.4,')).toBeUndefined();
  });
});
