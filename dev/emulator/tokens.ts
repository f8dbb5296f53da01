import { randomUUID } from 'node:crypto';
import { compactVerify, decodeJwt, SignJWT } from 'jose';
import { createSigningKey, type SigningKey, signingAlgorithm } from './keys.js';
import { formatServiceDate } from './time.js';

/** The `scp` value observed in real ACS user tokens. Clients never read it; it is reproduced for fidelity. */
const observedScpClaim = 1792;

export interface IssuedToken {
  token: string;
  expiresOn: string;
  expiresAtMs: number;
}

export interface AcsTokenClaims {
  skypeid: string;
  acsScope: string;
  exp: number;
}

/** Signs ACS user access tokens with the emulator's own key, published as a JWKS under /emulator/jwks. */
export class AcsTokenSigner {
  private constructor(
    private readonly key: SigningKey,
    private readonly resourceId: string,
  ) {}

  static async create(resourceId: string): Promise<AcsTokenSigner> {
    return new AcsTokenSigner(await createSigningKey(), resourceId);
  }

  get jwks(): { keys: object[] } {
    return { keys: [this.key.publicJwk] };
  }

  /**
   * `exp` and `expiresOn` name the same whole second, so a client reading either sees the same expiry.
   * `skypeid` is the identity id without its `8:` prefix, as in real tokens. `jti` is the emulator's own addition:
   * without it two tokens issued in the same second for the same identity, scopes and expiry would be byte-identical
   * (RS256 is deterministic), and the state that tells revoked tokens from live ones could not tell them apart.
   */
  async issue(
    communicationUserId: string,
    scopes: readonly string[],
    nowMs: number,
    expiresAtMs: number,
    extraClaims: Record<string, string> = {},
  ): Promise<IssuedToken> {
    const iat = Math.floor(nowMs / 1000);
    const exp = Math.floor(expiresAtMs / 1000);
    const token = await new SignJWT({
      skypeid: communicationUserId.replace(/^8:/, ''),
      scp: observedScpClaim,
      csi: String(iat),
      exp,
      acsScope: scopes.join(','),
      resourceId: this.resourceId,
      ...extraClaims,
      iat,
      jti: randomUUID(),
    })
      .setProtectedHeader({ alg: signingAlgorithm, kid: this.key.kid, typ: 'JWT' })
      .sign(this.key.privateKey);
    return { token, expiresOn: formatServiceDate(exp * 1000), expiresAtMs: exp * 1000 };
  }

  /** The claims of a token this signer issued, or undefined for anything else (forged, foreign, garbage). */
  async verify(token: string): Promise<AcsTokenClaims | undefined> {
    try {
      await compactVerify(token, this.key.publicKey, { algorithms: [signingAlgorithm] });
      const claims = decodeJwt(token);
      const { skypeid, acsScope, exp } = claims as Partial<AcsTokenClaims>;
      if (typeof skypeid !== 'string' || typeof exp !== 'number') return undefined;
      return { skypeid, acsScope: acsScope ?? '', exp };
    } catch {
      return undefined;
    }
  }
}
