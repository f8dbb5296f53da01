import type { HttpResponseInit } from '@azure/functions';
import type { RequestScope } from '../http/pipeline.js';
import { ProblemError } from '../http/problem.js';
import { type RouteTemplate, routesForPath } from '../http/route-match.js';

/** The path below the `/api/` prefix, still percent-encoded. */
function apiPath(url: string): string {
  return new URL(url).pathname.replace(/^\/api(?=\/|$)/i, '');
}

/** What an unknown path answers; routes that are switched off answer the same, so they cannot be told apart. */
export const NO_SUCH_ROUTE = 'No such route. See the API documentation.';

/**
 * The catch-all route: an unknown path is a 404 problem; a known path asked with another method is a 405 problem
 * listing the methods it has.
 */
export function notFound(routes: () => readonly RouteTemplate[]) {
  return async ({ request }: RequestScope): Promise<HttpResponseInit> => {
    const known = routesForPath(
      routes().filter((route) => !route.route.includes('{*')),
      apiPath(request.url),
    );
    if (known.length === 0) throw new ProblemError('not-found', NO_SUCH_ROUTE);
    const allowed = [...new Set(known.flatMap(({ route }) => route.methods))];
    throw new ProblemError('method-not-allowed', `This route answers ${allowed.join(', ')}.`, {
      headers: { Allow: allowed.join(', ') },
    });
  };
}
