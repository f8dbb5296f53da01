import { describe, expect, it } from 'vitest';
import { findRoute, matchTemplate, routesForPath } from '../../../src/http/route-match.js';

const routes = [
  { name: 'catchAll', route: '{*path}', methods: ['GET', 'POST', 'DELETE'] },
  { name: 'identityById', route: 'identity/{id}', methods: ['GET'] },
  { name: 'revoke', route: 'identity/revoke', methods: ['POST'] },
  { name: 'token', route: 'token', methods: ['GET', 'POST'] },
];

describe('route matching', () => {
  it('matches literals case-insensitively and decodes parameters', () => {
    expect(matchTemplate('token', '/Token')).toEqual({});
    expect(matchTemplate('identity/{id}', '/identity/8%3Aacs%3Ax')).toEqual({ id: '8:acs:x' });
    expect(matchTemplate('identity/{id}', '/identity')).toBeUndefined();
    expect(matchTemplate('identity/{id}', '/identity/a/b')).toBeUndefined();
    expect(matchTemplate('{*path}', '/a/b%20c')).toEqual({ path: 'a/b c' });
    expect(matchTemplate('identity/{id}', '/identity/%E0%A4%A')).toBeUndefined();
  });

  it('prefers literal segments over parameters and parameters over a catch-all', () => {
    expect(findRoute(routes, 'POST', '/identity/revoke')?.route.name).toBe('revoke');
    expect(findRoute(routes, 'GET', '/identity/revoke')?.route.name).toBe('identityById');
    expect(findRoute(routes, 'GET', '/token')?.route.name).toBe('token');
    expect(findRoute(routes, 'DELETE', '/token')?.route.name).toBe('catchAll');
    expect(findRoute(routes, 'put', '/token')).toBeUndefined();
    expect(routesForPath(routes, '/identity/revoke').map(({ route }) => route.name)).toEqual([
      'revoke',
      'identityById',
      'catchAll',
    ]);
  });
});
