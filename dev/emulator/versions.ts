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

export const supportedVersionsHeader = apiVersions.join(', ');

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

export const allScopes = ['chat', 'voip', 'chat.join', 'chat.join.limited', 'voip.join'] as const;
export type Scope = (typeof allScopes)[number];

export interface VersionFeatures {
  version: ApiVersion;
  scopes: readonly Scope[];
  /** `expiresInMinutes` in create / issue bodies (ignored, like any unknown field, before 2022-10-01). */
  customExpiry: boolean;
  /** `customId` on create, and GET /identities/{id}. */
  customId: boolean;
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
  };
}
