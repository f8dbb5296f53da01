import type { HttpMethod } from '@azure/functions';
import type { RouteDocs } from '../openapi/route-docs.js';
import type { PipelineServices, RouteHandler } from './pipeline.js';

/**
 * The route table's one source of routing knowledge, used by src/index.ts (registration), the catch-all route (404
 * and 405), CORS (the methods a preflight may announce), the OpenAPI document and dev/local-host.ts. Templates
 * (`token`, `identity/{id}`, `{*path}`) match as the Functions host matches them: literal segments are
 * case-insensitive, and when several templates match, literal segments win over parameters and parameters over a
 * catch-all.
 */

export interface RouteTemplate {
  readonly name: string;
  readonly route: string;
  readonly methods: readonly string[];
}

/** One function of the app: defined beside its operation in src/functions/, listed in src/routes.ts. */
export interface RouteDefinition<S extends PipelineServices = PipelineServices> extends RouteTemplate {
  /** The function name in Azure (unique, letters and digits). */
  readonly name: string;
  readonly methods: readonly HttpMethod[];
  /** The route template below the `api/` prefix (host.json routePrefix). */
  readonly route: string;
  /** Always anonymous at the host level: callers are verified by the app itself (AUTH_MODE), not function keys. */
  readonly authLevel: 'anonymous';
  readonly handler: RouteHandler<S>;
  /**
   * The route in GET /api/openapi.json: the zod schemas its handler validates with, its answers and the problems it
   * can give. Required for every route but the catch-all (test/src/openapi/document.test.ts fails without it).
   */
  readonly docs?: RouteDocs;
}

/** The route that answers every path no other route serves (404 or 405). */
export const isCatchAll = (route: Pick<RouteTemplate, 'route'>): boolean => route.route.includes('{*');

type Segment =
  | { kind: 'literal'; text: string }
  | { kind: 'parameter'; name: string }
  | { kind: 'rest'; name: string };

function parseTemplate(route: string): Segment[] {
  return route
    .split('/')
    .filter((segment) => segment.length > 0)
    .map((segment): Segment => {
      const parameter = /^\{(\*?)([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(segment);
      if (!parameter) return { kind: 'literal', text: segment.toLowerCase() };
      return parameter[1]
        ? { kind: 'rest', name: parameter[2]! }
        : { kind: 'parameter', name: parameter[2]! };
    });
}

/** The route parameters when `path` (without the `/api/` prefix, still percent-encoded) matches `route`. */
export function matchTemplate(route: string, path: string): Record<string, string> | undefined {
  const template = parseTemplate(route);
  const parts = path.split('/').filter((part) => part.length > 0);
  const params: Record<string, string> = {};
  try {
    for (const [index, segment] of template.entries()) {
      if (segment.kind === 'rest') {
        params[segment.name] = parts.slice(index).map(decodeURIComponent).join('/');
        return params;
      }
      const part = parts[index];
      if (part === undefined) return undefined;
      const decoded = decodeURIComponent(part);
      if (segment.kind === 'literal' && decoded.toLowerCase() !== segment.text) return undefined;
      if (segment.kind === 'parameter') params[segment.name] = decoded;
    }
  } catch {
    return undefined; // malformed percent-encoding matches nothing
  }
  return parts.length === template.length ? params : undefined;
}

/** Lower is more specific: compared segment by segment, literal (0) < parameter (1) < catch-all (2). */
function specificity(route: string): number[] {
  return parseTemplate(route).map((segment) =>
    segment.kind === 'literal' ? 0 : segment.kind === 'parameter' ? 1 : 2,
  );
}

function compareSpecificity(a: string, b: string): number {
  const left = specificity(a);
  const right = specificity(b);
  for (let index = 0; index < Math.max(left.length, right.length); index++) {
    const difference = (left[index] ?? -1) - (right[index] ?? -1);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** Every template matching `path`, most specific first. */
export function routesForPath<Route extends RouteTemplate>(
  routes: readonly Route[],
  path: string,
): { route: Route; params: Record<string, string> }[] {
  return routes
    .flatMap((route) => {
      const params = matchTemplate(route.route, path);
      return params ? [{ route, params }] : [];
    })
    .sort((a, b) => compareSpecificity(a.route.route, b.route.route));
}

/** The route serving `method` on `path`, if any. */
export function findRoute<Route extends RouteTemplate>(
  routes: readonly Route[],
  method: string,
  path: string,
): { route: Route; params: Record<string, string> } | undefined {
  return routesForPath(routes, path).find(({ route }) => route.methods.includes(method.toUpperCase()));
}

/**
 * The route a request reaches, as the Functions host routes it: the most specific route serving its method, else the
 * catch-all (which answers 404 or 405).
 */
export function routeFor<Route extends RouteTemplate>(
  routes: readonly Route[],
  method: string,
  path: string,
): { route: Route; params: Record<string, string> } | undefined {
  return findRoute(routes, method, path) ?? routesForPath(routes.filter(isCatchAll), path)[0];
}

/** The methods the named routes serve on `path` (OPTIONS included), for a 405's Allow; empty for an unknown path. */
export function allowedMethods(routes: readonly RouteTemplate[], path: string): string[] {
  const named = routes.filter((route) => !isCatchAll(route));
  return [...new Set(routesForPath(named, path).flatMap(({ route }) => route.methods))];
}

/** Routes that match the same paths: literal segments compared case-insensitively, parameter names ignored. */
const pathShape = (route: RouteTemplate) => route.route.toLowerCase().replace(/\{[^}]*\}/g, '{}');

/**
 * Adds OPTIONS to every route template of the table. In Azure a function receives only the methods it declares, so
 * a preflight reaches the app (and its CORS step) only if a function on that path accepts OPTIONS; the local host
 * routes the same way. When several functions share a path (GET and DELETE on `identity`), only the first takes
 * OPTIONS: two functions declaring the same method on one path would be ambiguous to the host.
 */
export function acceptPreflight<Route extends RouteTemplate & { readonly methods: readonly HttpMethod[] }>(
  routes: readonly Route[],
): Route[] {
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
  routes: () => readonly RouteTemplate[],
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
