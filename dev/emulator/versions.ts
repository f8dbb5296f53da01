/** The stable api-versions of the ACS Identity API, oldest first, and the features each one added. */
export const apiVersions = [
  '2021-03-07',
  '2022-06-01',
  '2022-10-01',
  '2023-08-01',
  '2023-10-01',
  '2025-06-30',
] as const;
export type ApiVersion = (typeof apiVersions)[number];

export type Operation =
  | 'createIdentity'
  | 'getIdentity'
  | 'deleteIdentity'
  | 'revokeTokens'
  | 'issueToken'
  | 'exchangeTeamsToken';

const operationAddedIn: Record<Operation, ApiVersion> = {
  createIdentity: '2021-03-07',
  deleteIdentity: '2021-03-07',
  revokeTokens: '2021-03-07',
  issueToken: '2021-03-07',
  exchangeTeamsToken: '2022-06-01',
  getIdentity: '2025-06-30',
};

/**
 * Versions the emulator serves but the service no longer lists in `api-supported-versions`: every recording since
 * October 2023 leaves 2023-08-01 out (azure-sdk-assets, net/.../GetTokenWithNullScopesShouldThrow.json and later),
 * while the Python recordings of mid-2023 still listed it. It stays served for clients pinned to it.
 */
const unlistedVersions: readonly ApiVersion[] = ['2023-08-01'];

/**
 * `api-supported-versions` is per controller in the recordings: every /identities route shares one list, and
 * /teamsUser/:exchangeAccessToken has its own that starts at the version which added it. The emulator lists the
 * stable versions it serves, in the service's order; the service also lists preview versions, which it does not serve.
 */
export function supportedVersionsHeader(operation: Operation): string {
  const first = operation === 'exchangeTeamsToken' ? '2022-06-01' : '2021-03-07';
  return apiVersions.filter((version) => version >= first && !unlistedVersions.includes(version)).join(', ');
}

export const allScopes = ['chat', 'voip', 'chat.join', 'chat.join.limited', 'voip.join'] as const;
export type Scope = (typeof allScopes)[number];

export interface VersionFeatures {
  version: ApiVersion;
  scopes: readonly Scope[];
  /** `expiresInMinutes` in create / issue bodies (ignored, like any unknown field, before 2022-10-01). */
  customExpiry: boolean;
  /** `customId` on create, `customId` / `lastTokenIssuedAt` in identities, and GET /identities/{id}. */
  customId: boolean;
  /** Repeatability-Request-ID / Repeatability-First-Sent on create: defined by the 2023-08-01 specification only. */
  repeatableCreate: boolean;
}

export function isApiVersion(value: string): value is ApiVersion {
  return (apiVersions as readonly string[]).includes(value);
}

export function supportsOperation(version: ApiVersion, operation: Operation): boolean {
  return version >= operationAddedIn[operation];
}

export function featuresOf(version: ApiVersion): VersionFeatures {
  return {
    version,
    scopes: version >= '2023-10-01' ? allScopes : ['chat', 'voip'],
    customExpiry: version >= '2022-10-01',
    customId: version >= '2025-06-30',
    repeatableCreate: version === '2023-08-01',
  };
}
