import type { HttpResponseInit } from '@azure/functions';
import type { Route, Scope } from '../app-services.js';
import { NO_SUCH_ROUTE } from '../http/define-route.js';
import { open } from '../http/pipeline.js';
import { ProblemError } from '../http/problem.js';
import { allowedMethods, type RouteTemplate } from '../http/route-table.js';

/** The path below the `/api/` prefix, still percent-encoded. */
function apiPath(url: string): string {
  return new URL(url).pathname.replace(/^\/api(?=\/|$)/i, '');
}

export { NO_SUCH_ROUTE };

/**
 * The catch-all route: an unknown path is a 404 problem; a known path asked with another method is a 405 problem
 * listing the methods it has.
 */
export function notFound(routes: () => readonly RouteTemplate[]) {
  return async ({ request }: Scope): Promise<HttpResponseInit> => {
    const allowed = allowedMethods(routes(), apiPath(request.url));
    if (allowed.length === 0) throw new ProblemError('not-found', NO_SUCH_ROUTE);
    throw new ProblemError('method-not-allowed', `This route answers ${allowed.join(', ')}.`, {
      headers: { Allow: allowed.join(', ') },
    });
  };
}

/** The catch-all, last in the route table; it has no docs (the OpenAPI document leaves it out). */
export const notFoundRoute = (routes: () => readonly RouteTemplate[]): Route => ({
  name: 'notFound',
  methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'],
  route: '{*path}',
  authLevel: 'anonymous',
  handler: open(notFound(routes)),
});
