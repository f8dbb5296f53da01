import { describe, expect, it } from 'vitest';
import { isLoopbackHost } from '../../dev/loopback-host.js';

describe('isLoopbackHost', () => {
  it('accepts localhost, 127.0.0.0/8 and [::1], with or without a port, in any case', () => {
    for (const host of [
      'localhost',
      'LocalHost:7071',
      '127.0.0.1',
      '127.255.0.9:1',
      '[::1]',
      '[::1]:65535',
    ]) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
  });

  it('refuses other names, userinfo, paths, bad ports and a missing Host', () => {
    for (const host of [
      undefined,
      '',
      'rebind.attacker.example',
      'localhost.attacker.example',
      'app.localhost',
      '127.0.0.1.nip.io',
      '0.0.0.0',
      '10.0.0.1',
      '[::2]',
      '[::ffff:127.0.0.1]',
      'user@127.0.0.1',
      '127.0.0.1/api/identity',
      '127.0.0.1:80/api',
      '127.0.0.1:65536',
      '127.0.0.1:',
      'localhost ',
    ]) {
      expect(isLoopbackHost(host), String(host)).toBe(false);
    }
  });

  it('accepts the configured own names too', () => {
    expect(isLoopbackHost('tokens.contoso.test:443', ['Tokens.Contoso.test'])).toBe(true);
    expect(isLoopbackHost('other.contoso.test', ['tokens.contoso.test'])).toBe(false);
  });
});
