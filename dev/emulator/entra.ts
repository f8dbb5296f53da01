import { randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { createSigningKey, type SigningKey, signingAlgorithm } from './keys.js';

export const acsAudiences = ['https://communication.azure.com', 'https://communication.azure.com/'];
export const teamsAudience = 'https://auth.msft.communication.azure.com';
const teamsScopes = [`${teamsAudience}/Teams.ManageCalls`, `${teamsAudience}/Teams.ManageChats`].join(' ');
const managedIdentityLifetimeSeconds = 24 * 60 * 60;

export interface EntraPrincipal {
  appId: string;
  objectId: string;
  tenantId: string;
}

export interface TeamsUserClaims {
  appId: string;
  userId: string;
  tenantId: string;
  exp: number;
}

/**
 * Plays Microsoft Entra ID for the emulator: it mints the tokens the managed identity endpoint hands out and the
 * Teams user tokens tests exchange, and it is the only issuer whose tokens the emulator accepts.
 */
export class EntraAuthority {
  readonly issuer: string;

  private constructor(
    private readonly key: SigningKey,
    readonly tenantId: string,
  ) {
    this.issuer = `https://sts.windows.net/${tenantId}/`;
  }

  static async create(tenantId: string = randomUUID()): Promise<EntraAuthority> {
    return new EntraAuthority(await createSigningKey(), tenantId);
  }

  get jwks(): { keys: object[] } {
    return { keys: [this.key.publicJwk] };
  }

  async mintManagedIdentityToken(
    principal: EntraPrincipal,
    resource: string,
    nowMs: number,
  ): Promise<{ token: string; expiresOn: number }> {
    const iat = Math.floor(nowMs / 1000);
    const expiresOn = iat + managedIdentityLifetimeSeconds;
    const token = await this.sign(
      {
        appid: principal.appId,
        oid: principal.objectId,
        sub: principal.objectId,
        tid: principal.tenantId,
        idtyp: 'app',
      },
      resource,
      iat,
      expiresOn,
    );
    return { token, expiresOn };
  }

  async mintTeamsUserToken(
    user: { appId: string; userId: string; tenantId?: string },
    nowMs: number,
    expiresInSeconds: number,
  ): Promise<string> {
    const iat = Math.floor(nowMs / 1000);
    return this.sign(
      {
        appid: user.appId,
        oid: user.userId,
        sub: user.userId,
        tid: user.tenantId ?? this.tenantId,
        scp: teamsScopes,
        idtyp: 'user',
      },
      teamsAudience,
      iat,
      iat + expiresInSeconds,
    );
  }

  /** The caller behind a bearer token for the ACS API, or undefined unless this authority issued it, for ACS, unexpired. */
  async verifyAcsBearer(token: string, nowMs: number): Promise<EntraPrincipal | undefined> {
    const claims = await this.verify(token, acsAudiences, nowMs);
    if (!claims || typeof claims.appid !== 'string' || typeof claims.oid !== 'string') return undefined;
    return { appId: claims.appid, objectId: claims.oid, tenantId: String(claims.tid) };
  }

  async verifyTeamsUserToken(token: string, nowMs: number): Promise<TeamsUserClaims | undefined> {
    const claims = await this.verify(token, [teamsAudience], nowMs);
    if (!claims || typeof claims.appid !== 'string' || typeof claims.oid !== 'string') return undefined;
    return { appId: claims.appid, userId: claims.oid, tenantId: String(claims.tid), exp: Number(claims.exp) };
  }

  private async sign(
    claims: Record<string, string>,
    audience: string,
    iat: number,
    exp: number,
  ): Promise<string> {
    return new SignJWT({ ...claims, ver: '1.0' })
      .setProtectedHeader({ alg: signingAlgorithm, kid: this.key.kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(audience)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp)
      .sign(this.key.privateKey);
  }

  private async verify(
    token: string,
    audience: string[],
    nowMs: number,
  ): Promise<Record<string, unknown> | undefined> {
    try {
      const { payload } = await jwtVerify(token, this.key.publicKey, {
        algorithms: [signingAlgorithm],
        issuer: this.issuer,
        audience,
        currentDate: new Date(nowMs),
      });
      return payload;
    } catch {
      return undefined;
    }
  }
}
