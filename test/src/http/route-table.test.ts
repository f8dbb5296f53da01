import { describe, expect, it } from 'vitest';
import {
  acceptPreflight,
  allowedMethods,
  findRoute,
  matchTemplate,
  preflightMethods,
  routeFor,
  routesForPath,
} from '../../../src/http/route-table.js';

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

const preflightTable = [
  { name: 'issueToken', methods: ['GET', 'POST'] as const, route: 'token' },
  { name: 'health', methods: ['GET'] as const, route: 'health' },
  { name: 'getThing', methods: ['GET'] as const, route: 'things/{id}' },
  { name: 'deleteThing', methods: ['DELETE'] as const, route: 'Things/{thingId}' },
  { name: 'notFound', methods: ['GET', 'OPTIONS'] as const, route: '{*path}' },
];

describe('acceptPreflight and preflightMethods', () => {
  it('makes every path accept OPTIONS once, keeping each route its own methods first', () => {
    const routes = acceptPreflight(preflightTable);
    expect(routes.map(({ methods }) => methods)).toEqual([
      ['GET', 'POST', 'OPTIONS'],
      ['GET', 'OPTIONS'],
      ['GET', 'OPTIONS'],
      ['DELETE'], // same path as getThing: a second OPTIONS there would be ambiguous to the Functions host
      ['GET', 'OPTIONS'],
    ]);
    expect(routes[0]).toMatchObject({ name: 'issueToken', route: 'token' });
  });

  it('announces the methods of every function on the path, and none for the catch-all', () => {
    const methodsOf = preflightMethods(() => acceptPreflight(preflightTable));
    expect(methodsOf('issueToken')).toEqual(['GET', 'POST']);
    expect(methodsOf('health')).toEqual(['GET']);
    expect(methodsOf('getThing')).toEqual(['GET', 'DELETE']);
    expect(methodsOf('notFound')).toBeUndefined();
    expect(methodsOf('nothing')).toBeUndefined();
  });
});

describe('routeFor and allowedMethods', () => {
  it('sends a method no route serves on a known path to the catch-all, and lists the methods it has', () => {
    expect(routeFor(routes, 'DELETE', '/token')?.route.name).toBe('catchAll');
    expect(routeFor(routes, 'POST', '/token')?.route.name).toBe('token');
    expect(routeFor(routes.slice(1), 'GET', '/nowhere')).toBeUndefined();
    expect(allowedMethods(routes, '/token')).toEqual(['GET', 'POST']);
    expect(allowedMethods(routes, '/nowhere')).toEqual([]);
  });
});
