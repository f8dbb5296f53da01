import type { Operation } from './versions.js';

export interface AcsRoute {
  operation: Operation;
  /** The decoded `{id}` path segment, for the operations on one identity. */
  identityId?: string;
}

export type RouteMatch = AcsRoute | 'method-not-allowed' | 'not-found';

/** Which ACS Identity API operation a method and request target name. */
export function matchAcsRoute(method: string, target: string): RouteMatch {
  const segments = pathSegments(target);
  if (!segments) return 'not-found';
  const [first, second, third, ...rest] = segments;
  if (rest.length > 0) return 'not-found';
  const expect = (allowed: string, matched: AcsRoute): RouteMatch =>
    method === allowed ? matched : 'method-not-allowed';
  if (first === 'teamsUser' && second === ':exchangeAccessToken' && third === undefined) {
    return expect('POST', { operation: 'exchangeTeamsToken' });
  }
  if (first !== 'identities') return 'not-found';
  if (second === undefined) return expect('POST', { operation: 'createIdentity' });
  if (third === undefined) {
    if (method === 'DELETE') return { operation: 'deleteIdentity', identityId: second };
    return expect('GET', { operation: 'getIdentity', identityId: second });
  }
  if (third === ':issueAccessToken') return expect('POST', { operation: 'issueToken', identityId: second });
  if (third === ':revokeAccessTokens')
    return expect('POST', { operation: 'revokeTokens', identityId: second });
  return 'not-found';
}

/** The decoded path segments, or undefined for a path that does not decode. */
export function pathSegments(target: string): string[] | undefined {
  const pathname = target.split('?')[0] ?? '/';
  try {
    return pathname.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return undefined;
  }
}
