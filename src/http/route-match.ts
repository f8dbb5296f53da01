/**
 * Matching of Functions route templates (`token`, `identity/{id}`, `{*path}`) as the Functions host does it:
 * literal segments are case-insensitive, and when several templates match, literal segments win over parameters
 * and parameters over a catch-all.
 */

export interface RouteTemplate {
  readonly route: string;
  readonly methods: readonly string[];
}

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
