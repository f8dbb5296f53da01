import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import type { Step } from './pipeline.js';

/** How long a browser may reuse a preflight answer. */
export const PREFLIGHT_MAX_AGE_SECONDS = 600;
/** Tokens travel in Authorization (never cookies), bodies are JSON: nothing else needs allowing. */
export const ALLOWED_REQUEST_HEADERS = 'Authorization, Content-Type';
/** Response headers a browser app may read beyond the safelisted ones (how long to wait, why it was refused). */
export const EXPOSED_RESPONSE_HEADERS = 'Retry-After, WWW-Authenticate';

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
export function corsStep({ allowedOrigins, platformOrigins = [], routeMethods }: CorsOptions): Step {
  const byPlatform = platformAnswers(platformOrigins);
  const allowed = new Set(allowedOrigins);
  const requestOrigin = (request: HttpRequest) => request.headers.get('origin') ?? undefined;
  const allowedOrigin = (request: HttpRequest) => {
    const origin = requestOrigin(request);
    return origin !== undefined && allowed.has(origin) && !byPlatform(origin) ? origin : undefined;
  };

  const preflightAnswer = (request: HttpRequest, functionName: string): HttpResponseInit | undefined => {
    if (request.method.toUpperCase() !== 'OPTIONS') return undefined;
    const methods = routeMethods(functionName);
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
  };

  const withCorsHeaders = (request: HttpRequest, response: HttpResponseInit): HttpResponseInit => {
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
  };

  // First of every route's steps: a preflight is answered before the rate limits or authentication see it, and every
  // answer on the way out, errors included, gets its CORS headers.
  return async ({ request, context }, next) =>
    withCorsHeaders(request, preflightAnswer(request, context.functionName) ?? (await next()));
}
