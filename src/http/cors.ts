import type { HttpMethod, HttpRequest, HttpResponseInit } from '@azure/functions';
import type { RequestPolicy } from './pipeline.js';

/** How long a browser may reuse a preflight answer. */
export const PREFLIGHT_MAX_AGE_SECONDS = 600;
/** Tokens travel in Authorization (never cookies), bodies are JSON: nothing else needs allowing. */
export const ALLOWED_REQUEST_HEADERS = 'Authorization, Content-Type';
/** Response headers a browser app may read beyond the safelisted ones (how long to wait, why it was refused). */
export const EXPOSED_RESPONSE_HEADERS = 'Retry-After, WWW-Authenticate';

interface RouteMethods {
  readonly name: string;
  readonly route: string;
  readonly methods: readonly HttpMethod[];
}

const isCatchAll = (route: RouteMethods) => route.route.includes('{*');

/** Routes that match the same paths: literal segments compared case-insensitively, parameter names ignored. */
const pathShape = (route: RouteMethods) => route.route.toLowerCase().replace(/\{[^}]*\}/g, '{}');

/**
 * Adds OPTIONS to every route template of the table. In Azure a function receives only the methods it declares, so
 * a preflight reaches the app (and its CORS policy) only if a function on that path accepts OPTIONS; the local host
 * routes the same way. When several functions share a path (GET and DELETE on `identity`), only the first takes
 * OPTIONS: two functions declaring the same method on one path would be ambiguous to the host.
 */
export function acceptPreflight<Route extends RouteMethods>(routes: readonly Route[]): Route[] {
  const shapesWithOptions = new Set(
    routes.filter((route) => route.methods.includes('OPTIONS')).map(pathShape),
  );
  return routes.map((route) => {
    if (shapesWithOptions.has(pathShape(route))) return route;
    shapesWithOptions.add(pathShape(route));
    return { ...route, methods: [...route.methods, 'OPTIONS'] };
  });
}

/**
 * The methods a preflight may announce for the path a function serves: those of every function on that path,
 * OPTIONS itself aside. None for the catch-all, so an unknown path stays a 404.
 */
export function preflightMethods(
  routes: () => readonly RouteMethods[],
): (functionName: string) => readonly string[] | undefined {
  return (functionName) => {
    const table = routes();
    const served = table.find((route) => route.name === functionName);
    if (!served || isCatchAll(served)) return undefined;
    const methods = table
      .filter((route) => pathShape(route) === pathShape(served))
      .flatMap((route) => route.methods)
      .filter((method) => method !== 'OPTIONS');
    return [...new Set(methods)];
  };
}

export interface CorsOptions {
  /** APP_CORS_ALLOWED_ORIGINS, in the form browsers send (see allowedOriginsSchema). Empty: no cross-origin access. */
  allowedOrigins: readonly string[];
  /**
   * CORS_ALLOWED_ORIGINS as the platform set it (see platformAllowedOriginsSchema): the origins the Functions host in
   * front answers itself on Linux/Flex Consumption. The app adds no Access-Control-Allow-Origin of its own for them,
   * so a response never carries two. Default: none (no platform CORS, e.g. `func start` or the local host).
   */
  platformOrigins?: readonly string[];
  /** The methods of the function serving the request, or undefined when it serves no known route. */
  routeMethods: (functionName: string) => readonly string[] | undefined;
}

function appendVary(headers: Headers, name: string): void {
  const present = (headers.get('vary') ?? '')
    .split(',')
    .map((item) => item.trim().toLowerCase())
    .filter((item) => item.length > 0);
  if (!present.includes(name.toLowerCase()) && !present.includes('*')) headers.append('Vary', name);
}

/**
 * True for an origin the platform's CORS answers: ASP.NET Core's CorsPolicy allows any origin only when its list is
 * exactly ["*"], otherwise the exact (normalised) origins listed.
 */
function platformAnswers(platformOrigins: readonly string[]): (origin: string) => boolean {
  if (platformOrigins.length === 1 && platformOrigins[0] === '*') return () => true;
  const listed = new Set(platformOrigins);
  return (origin) => listed.has(origin);
}

/**
 * CORS answered by the app: exact origins only, no credentials mode. Every OPTIONS request to a known route ends
 * here with 204 and `Allow`; a preflight from an allowed origin also gets the Access-Control-Allow-* answer. Any
 * other origin gets no CORS header at all, so the browser blocks the call; requests without Origin are untouched.
 * Origins the platform answers (platformOrigins) are left to it; they get only Access-Control-Expose-Headers, which
 * the host's policy never sets, so a browser app can still read Retry-After there.
 */
export function createCorsPolicy({
  allowedOrigins,
  platformOrigins = [],
  routeMethods,
}: CorsOptions): RequestPolicy {
  const byPlatform = platformAnswers(platformOrigins);
  const allowed = new Set(allowedOrigins);
  const requestOrigin = (request: HttpRequest) => request.headers.get('origin') ?? undefined;
  const allowedOrigin = (request: HttpRequest) => {
    const origin = requestOrigin(request);
    return origin !== undefined && allowed.has(origin) && !byPlatform(origin) ? origin : undefined;
  };

  return {
    beforeAuthentication({ request, context }) {
      if (request.method.toUpperCase() !== 'OPTIONS') return undefined;
      const methods = routeMethods(context.functionName);
      if (methods === undefined) return undefined; // an unknown path: the catch-all answers 404
      const preflight =
        allowedOrigin(request) !== undefined && request.headers.has('access-control-request-method');
      return {
        status: 204,
        headers: {
          Allow: [...methods, 'OPTIONS'].join(', '),
          ...(preflight
            ? {
                'Access-Control-Allow-Methods': methods.join(', '),
                'Access-Control-Allow-Headers': ALLOWED_REQUEST_HEADERS,
                'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE_SECONDS),
              }
            : {}),
        },
      };
    },

    decorate({ request }, response: HttpResponseInit) {
      const origin = requestOrigin(request);
      const leftToPlatform = origin !== undefined && byPlatform(origin);
      if (allowed.size === 0 && !leftToPlatform) return response;
      const headers = new Headers(response.headers as ConstructorParameters<typeof Headers>[0]);
      // The answer depends on Origin whenever origins are configured, so caches must key on it.
      appendVary(headers, 'Origin');
      const ownOrigin = allowedOrigin(request);
      if (ownOrigin !== undefined) {
        headers.set('Access-Control-Allow-Origin', ownOrigin);
        headers.set('Access-Control-Expose-Headers', EXPOSED_RESPONSE_HEADERS);
      } else if (leftToPlatform) {
        headers.set('Access-Control-Expose-Headers', EXPOSED_RESPONSE_HEADERS);
      }
      const record: Record<string, string> = {};
      headers.forEach((value, name) => {
        record[name] = value;
      });
      return { ...response, headers: record };
    },
  };
}
