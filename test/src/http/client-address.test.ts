import { describe, expect, it } from 'vitest';
import { addressLimitKey, clientAddress } from '../../../src/http/client-address.js';

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

  it('spells each address one way: IPv4-mapped IPv6 as IPv4, IPv6 compressed and lower case, no zone', () => {
    expect(forwardedFor('[::ffff:203.0.113.7]:443')).toBe('203.0.113.7');
    expect(forwardedFor('::FFFF:CB00:7107')).toBe('203.0.113.7');
    expect(forwardedFor('[2001:0DB8:0000:0000:0000:0000:0000:0001]:1')).toBe('2001:db8::1');
    expect(forwardedFor('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(forwardedFor('2001:db8::1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(forwardedFor('[fe80::1%eth0]:80')).toBe('fe80::1');
    expect(forwardedFor('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2:3:4:5:6');
    expect(forwardedFor('::')).toBe('::');
    expect(forwardedFor('::1')).toBe('::1');
  });
});

describe('addressLimitKey', () => {
  it('keeps IPv4 as it is and keys IPv6 by its /64', () => {
    expect(addressLimitKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressLimitKey('2001:db8:aa:bb:1:2:3:4')).toBe('2001:db8:aa:bb::/64');
    expect(addressLimitKey('2001:db8:aa:bb::ffff')).toBe('2001:db8:aa:bb::/64');
    expect(addressLimitKey('2001:db8::1')).toBe('2001:db8::/64');
    expect(addressLimitKey('::1')).toBe('::/64');
  });
});
