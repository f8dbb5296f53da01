import { describe, expect, it } from 'vitest';
import { routes } from '../../src/routes.js';

describe('the route table', () => {
  it('names each function once with a valid Functions name, all verified by the app itself', () => {
    const names = routes.map((route) => route.name);
    expect(new Set(names).size).toBe(names.length);
    for (const route of routes) {
      expect(route.name).toMatch(/^[A-Za-z][A-Za-z0-9_-]{0,127}$/);
      expect(route.authLevel).toBe('anonymous');
      expect(route.route).not.toMatch(/^\/|^api\//);
    }
  });

  it('serves the token and health endpoints and a catch-all for unknown routes', () => {
    expect(routes.map(({ name, methods, route }) => ({ name, methods, route }))).toEqual(
      expect.arrayContaining([
        // OPTIONS on every route: in Azure a function receives only the methods it declares (CORS preflights).
        { name: 'issueToken', methods: ['GET', 'POST', 'OPTIONS'], route: 'token' },
        { name: 'health', methods: ['GET', 'OPTIONS'], route: 'health' },
        expect.objectContaining({ name: 'notFound', route: '{*path}' }),
      ]),
    );
  });
});
