import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureCertificateAuthority } from '../../../dev/emulator/tls.js';

const dirs: string[] = [];

async function freshDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'emulator-tls-'));
  dirs.push(dir);
  return dir;
}

afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('ensureCertificateAuthority', () => {
  it('creates a CA once and reuses it, even when several callers race', async () => {
    const dir = await freshDir();
    const racing = await Promise.all([1, 2, 3, 4].map(() => ensureCertificateAuthority(dir)));
    const again = await ensureCertificateAuthority(dir);
    for (const ca of [...racing, again]) {
      expect(ca.caCertPem).toBe(again.caCertPem);
      expect(ca.caCertPath).toBe(path.join(dir, 'ca.pem'));
    }
    expect(await readFile(again.caCertPath, 'utf8')).toBe(again.caCertPem);
    expect(again.caCertPem).not.toContain('PRIVATE KEY');
  });

  it('issues server certificates that a client trusting only the CA accepts for 127.0.0.1 and localhost', async () => {
    const ca = await ensureCertificateAuthority(await freshDir());
    const leaf = await ca.issueServerCertificate(['127.0.0.1', 'localhost']);
    const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) =>
      res.end('trusted'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const get = (servername: string) =>
      new Promise<string>((resolve, reject) => {
        https
          .get(
            { host: '127.0.0.1', port, servername, ca: ca.caCertPem, headers: { host: servername } },
            (res) => {
              let body = '';
              res.on('data', (chunk) => {
                body += chunk;
              });
              res.on('end', () => resolve(body));
            },
          )
          .on('error', reject);
      });
    try {
      expect(await get('localhost')).toBe('trusted');
      const other = await ensureCertificateAuthority(await freshDir());
      await expect(
        new Promise((resolve, reject) =>
          https.get({ host: '127.0.0.1', port, ca: other.caCertPem }, resolve).on('error', reject),
        ),
      ).rejects.toThrow();
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
