// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as Parameters<typeof x509.cryptoProvider.set>[1]);

const signingAlgorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const caFileName = 'ca.pem';
const caBundleFileName = 'ca-bundle-with-key.pem';
const dayMs = 24 * 60 * 60 * 1000;

export interface ServerCertificate {
  certPem: string;
  keyPem: string;
}

export interface CertificateAuthority {
  /** PEM file holding only the CA certificate: what NODE_EXTRA_CA_CERTS names. */
  caCertPath: string;
  caCertPem: string;
  /** A fresh leaf certificate for these DNS names / IP addresses, signed by this CA (kept in memory only). */
  issueServerCertificate(hosts: readonly string[]): Promise<ServerCertificate>;
}

/**
 * Creates the emulator's certificate authority in `dir`, or reuses the one already there. Safe to call from several
 * processes at once: the CA key and certificate are published together with an exclusive link, so the first writer
 * wins and every caller ends up with the same CA.
 */
export async function ensureCertificateAuthority(dir: string): Promise<CertificateAuthority> {
  await mkdir(dir, { recursive: true });
  const bundlePath = path.join(dir, caBundleFileName);
  const bundle = (await readIfExists(bundlePath)) ?? (await publishNewBundle(dir, bundlePath));
  const { certPem, keyPem } = splitBundle(bundle);
  const caCertPath = path.join(dir, caFileName);
  if ((await readIfExists(caCertPath)) !== certPem) await writeAtomically(dir, caCertPath, certPem);

  const caCert = new x509.X509Certificate(certPem);
  const caKey = await webcrypto.subtle.importKey('pkcs8', pemBody(keyPem), signingAlgorithm, false, ['sign']);
  return {
    caCertPath,
    caCertPem: certPem,
    issueServerCertificate: (hosts) => issueLeaf(caCert, caKey, hosts),
  };
}

async function publishNewBundle(dir: string, bundlePath: string): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey(signingAlgorithm, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: 'CN=ACS Identity Emulator Local CA',
    notBefore: new Date(now - dayMs),
    notAfter: new Date(now + 3650 * dayMs),
    signingAlgorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const bundle = `${cert.toString('pem')}\n${toPem(pkcs8, 'PRIVATE KEY')}`;
  const temporary = path.join(dir, `.${caBundleFileName}.${process.pid}.${randomBytes(4).toString('hex')}`);
  await writeFile(temporary, bundle, { mode: 0o600 });
  try {
    await link(temporary, bundlePath);
    return bundle;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return readFile(bundlePath, 'utf8');
  } finally {
    await rm(temporary, { force: true });
  }
}

async function issueLeaf(
  caCert: x509.X509Certificate,
  caKey: webcrypto.CryptoKey,
  hosts: readonly string[],
): Promise<ServerCertificate> {
  const keys = (await webcrypto.subtle.generateKey(signingAlgorithm, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const names = hosts.map((host) =>
    isIpAddress(host) ? { type: 'ip' as const, value: host } : { type: 'dns' as const, value: host },
  );
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${hosts[0] ?? 'localhost'}`,
    issuer: caCert.subject,
    notBefore: new Date(now - dayMs),
    notAfter: new Date(now + 365 * dayMs),
    signingAlgorithm,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return {
    certPem: `${cert.toString('pem')}\n${caCert.toString('pem')}\n`,
    keyPem: toPem(pkcs8, 'PRIVATE KEY'),
  };
}

function splitBundle(bundle: string): { certPem: string; keyPem: string } {
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(bundle)?.[0];
  const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(bundle)?.[0];
  if (!cert || !key)
    throw new Error(`The emulator CA bundle is damaged; delete its directory to regenerate it.`);
  return { certPem: `${cert}\n`, keyPem: `${key}\n` };
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function writeAtomically(dir: string, file: string, content: string): Promise<void> {
  const temporary = path.join(
    dir,
    `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}`,
  );
  await writeFile(temporary, content);
  await rename(temporary, file);
}

function toPem(der: ArrayBuffer, label: string): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function pemBody(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

function serialNumber(): string {
  // A positive 16-byte serial: the high bit cleared so DER does not read it as negative.
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

function isIpAddress(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}
