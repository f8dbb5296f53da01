import { createHash } from 'node:crypto';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import { z } from 'zod';
import { AuthenticationError, KeysUnavailableError } from '../shared/errors.js';
import { isSecureOrLoopbackUrl } from '../shared/loopback.js';
import { LruMap } from '../shared/lru-map.js';
import { IssuerDirectory, type IssuerMatch, type TrustedIssuer } from './issuers.js';
import { type CallerValidator, type Principal, principalSchema, userIdFromClaim } from './principal.js';

/** Asymmetric algorithms only: `none` and HS* (which a public key could be abused to forge) never verify. */
export const ALLOWED_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

export const CLOCK_TOLERANCE_SECONDS = 60;
/** Real access tokens are a few KB; anything far larger is refused before any parsing. */
const MAX_TOKEN_LENGTH = 16 * 1024;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export interface JwtValidatorConfig {
  /** The issuers trusted; each token is checked against the one its `iss` (and `tid`) names, and no other. */
  issuers: readonly TrustedIssuer[];
}

/** Where one concrete issuer's keys come from. */
interface KeySource {
  issuer: string;
  jwksUri: string | undefined;
}

export interface JwtValidatorOptions {
  /** After a key-set fetch, an unknown `kid` triggers no new fetch for this long. Default 30 s. */
  cooldownMs?: number;
  /** Keys are refetched after this long even when every `kid` is known. Default 10 min. */
  cacheMaxAgeMs?: number;
  /** Time limit of each discovery or key-set fetch. Default 5 s. */
  fetchTimeoutMs?: number;
}

/** The Authorization header must be exactly one `Bearer <compact JWS>`. */
export function readBearerToken(headers: Headers): string {
  const authorization = headers.get('authorization');
  if (authorization === null) throw new AuthenticationError('no_token', false);
  const match = /^Bearer +(\S+)$/i.exec(authorization);
  const token = match?.[1];
  if (token === undefined || token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) {
    throw new AuthenticationError('malformed_authorization_header', true);
  }
  return token;
}

const discoveryDocumentSchema = z.object({ issuer: z.string(), jwks_uri: z.string() });

/**
 * One issuer's signing keys: from its jwksUri or OpenID discovery (fetched once and cached), then jose's remote
 * key set (cached, an unknown `kid` refetches at most once per cool-down). When a refetch fails, the keys already
 * known keep working.
 */
class IssuerKeys {
  private keySet?: ReturnType<typeof createRemoteJWKSet>;
  private discovery?: Promise<URL>;
  private discoveryFailedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly config: KeySource,
    private readonly options: Required<JwtValidatorOptions>,
  ) {}

  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    const keySet = await this.remoteKeySet();
    try {
      return await keySet(header, token);
    } catch (error) {
      if (isKeyLookupError(error)) throw error;
      const known = keySet.jwks();
      if (known === undefined) throw new KeysUnavailableError('the issuer key set could not be fetched');
      return createLocalJWKSet(known)(header, token);
    }
  };

  private async remoteKeySet() {
    if (this.keySet) return this.keySet;
    const uri = await this.jwksUri();
    this.keySet ??= createRemoteJWKSet(uri, {
      cooldownDuration: this.options.cooldownMs,
      cacheMaxAge: this.options.cacheMaxAgeMs,
      timeoutDuration: this.options.fetchTimeoutMs,
    });
    return this.keySet;
  }

  private jwksUri(): Promise<URL> {
    if (this.config.jwksUri !== undefined) return Promise.resolve(new URL(this.config.jwksUri));
    if (this.discovery === undefined) {
      if (Date.now() < this.discoveryFailedAt + this.options.cooldownMs) {
        return Promise.reject(new KeysUnavailableError('OpenID discovery failed recently'));
      }
      this.discovery = this.discover().catch((error: unknown) => {
        this.discovery = undefined;
        this.discoveryFailedAt = Date.now();
        throw error;
      });
    }
    return this.discovery;
  }

  private async discover(): Promise<URL> {
    const location = `${this.config.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    let document: z.infer<typeof discoveryDocumentSchema>;
    try {
      const response = await fetch(location, {
        redirect: 'error',
        signal: AbortSignal.timeout(this.options.fetchTimeoutMs),
        headers: { accept: 'application/json' },
      });
      if (response.status !== 200) throw new Error(`status ${response.status}`);
      document = discoveryDocumentSchema.parse(await response.json());
    } catch {
      throw new KeysUnavailableError('OpenID discovery failed');
    }
    if (document.issuer !== this.config.issuer) {
      throw new KeysUnavailableError('the discovery document names another issuer');
    }
    if (!URL.canParse(document.jwks_uri) || !isSecureOrLoopbackUrl(new URL(document.jwks_uri))) {
      throw new KeysUnavailableError('the discovery document names an insecure jwks_uri');
    }
    return new URL(document.jwks_uri);
  }
}

function isKeyLookupError(error: unknown): boolean {
  return (
    error instanceof errors.JWKSNoMatchingKey ||
    error instanceof errors.JWKSMultipleMatchingKeys ||
    error instanceof errors.JOSENotSupported ||
    error instanceof errors.JWKInvalid
  );
}

function stringClaim(payload: JWTPayload, name: string): string | undefined {
  const value = payload[name];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/**
 * The roles claim's strings (Entra `roles`, Cognito `cognito:groups`). Only a JSON list counts: no provider sends
 * roles as one string, so a token that does is malformed, not an admin.
 */
function rolesIn(payload: JWTPayload, claim: string): string[] {
  const value = payload[claim];
  return Array.isArray(value) ? value.filter((role): role is string => typeof role === 'string') : [];
}

/** The caller, keyed by the concrete issuer that verified it (a template's with the token's tenant in it). */
function principalFrom(payload: JWTPayload, match: IssuerMatch): Principal {
  const userId = userIdFromClaim(stringClaim(payload, match.entry.userClaim));
  const roles = rolesIn(payload, match.entry.rolesClaim ?? 'roles');
  const scopes = (stringClaim(payload, 'scp') ?? '').split(' ').filter((scope) => scope.length > 0);
  return principalSchema.parse({
    issuer: match.issuer,
    userId,
    roles,
    scopes,
    oid: stringClaim(payload, 'oid'),
  });
}

/** The longest an instance accepts a verified token without checking its signature again. */
export const VERIFIED_TOKEN_MAX_AGE_MS = 5 * 60_000;
const VERIFIED_TOKEN_MAX_ENTRIES = 10_000;

/**
 * Tokens this instance verified, and the principal each gave. Why: checking a token's signature (RS256 over
 * WebCrypto) was ~17% of the server's CPU in the token-reuse benchmark, and clients send the same token for its
 * whole lifetime. Trade-off: a signing key the issuer removes from its JWKS keeps the tokens already verified with
 * it accepted on this instance for at most VERIFIED_TOKEN_MAX_AGE_MS; a token is never accepted past its `exp`.
 * Keys are SHA-256 hashes of the exact token string, so no token is kept; failures are never kept, so each is
 * checked again on its next attempt. Bounded (LRU), so a flood of distinct valid tokens costs at most a few MB.
 */
class VerifiedTokens {
  private readonly entries = new LruMap<string, { principal: Principal; expiresAt: number }>(
    VERIFIED_TOKEN_MAX_ENTRIES,
  );

  find(token: string): Principal | undefined {
    const key = hashOf(token);
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (Date.now() >= entry.expiresAt) {
      this.entries.delete(key);
      return undefined;
    }
    return copyOf(entry.principal);
  }

  remember(token: string, principal: Principal, expSeconds: number): void {
    const now = Date.now();
    const expiresAt = Math.min(expSeconds * 1000, now + VERIFIED_TOKEN_MAX_AGE_MS);
    if (expiresAt > now) this.entries.set(hashOf(token), { principal: copyOf(principal), expiresAt });
  }
}

/** Kept and handed-out principals are copies, so nothing a request does to its own reaches later requests. */
function copyOf(principal: Principal): Principal {
  return { ...principal, roles: [...principal.roles], scopes: [...principal.scopes] };
}

function hashOf(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** Key sets kept at once: one per key-set URL, and one per issuer found by discovery (a template's per tenant). */
const MAX_KEY_SOURCES = 1_000;

/**
 * AUTH_MODE=jwt: a bearer token signed by its issuer's keys, for one of that issuer's audiences, currently valid.
 * The issuer is picked by the token's `iss` (and `tid`) before any key is fetched, so a token naming an issuer or
 * tenant nobody configured is refused without a network call.
 */
export function createJwtValidator(
  config: JwtValidatorConfig,
  options: JwtValidatorOptions = {},
): CallerValidator {
  const keyOptions = {
    cooldownMs: options.cooldownMs ?? 30_000,
    cacheMaxAgeMs: options.cacheMaxAgeMs ?? 600_000,
    fetchTimeoutMs: options.fetchTimeoutMs ?? 5_000,
  };
  const directory = new IssuerDirectory(config.issuers);
  const keySets = new LruMap<string, IssuerKeys>(MAX_KEY_SOURCES);
  const keysFor = (source: KeySource) => {
    // A given key-set URL serves the same keys whichever issuer (or tenant) names it.
    const id = source.jwksUri ?? `discovery:${source.issuer}`;
    let keys = keySets.get(id);
    if (keys === undefined) {
      keys = new IssuerKeys(source, keyOptions);
      keySets.set(id, keys);
    }
    return keys;
  };
  const verified = new VerifiedTokens();
  return {
    async authenticate(headers) {
      const token = readBearerToken(headers);
      const known = verified.find(token);
      if (known !== undefined) return known;
      try {
        // Unverified: only to choose the issuer whose keys and audiences the token is then verified against.
        const claims = decodeJwt(token);
        const match = directory.match(claims.iss, claims.tid);
        if (typeof match === 'string') throw new AuthenticationError(match, true);
        const { payload } = await jwtVerify(token, keysFor(match).getKey, {
          issuer: match.issuer,
          audience: [...match.entry.audiences],
          algorithms: ALLOWED_ALGORITHMS,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ['exp'],
        });
        const principal = principalFrom(payload, match);
        // jose checked that `exp` is present and a number (requiredClaims).
        verified.remember(token, principal, payload.exp as number);
        return principal;
      } catch (error) {
        if (error instanceof AuthenticationError || error instanceof KeysUnavailableError) throw error;
        const reason = error instanceof errors.JOSEError ? error.code : 'invalid_token';
        throw new AuthenticationError(reason, true);
      }
    },
  };
}
