import type { HttpRequest } from '@azure/functions';
import type { Settings } from '../settings.js';
import { ProblemError } from './problem.js';

/** Methods that change nothing (RFC 9110, 9.2.1): a browser may send them anywhere; they are left alone. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The content types a page on any site may send with a form or a no-cors fetch, without a CORS preflight
 * (Fetch standard, "CORS-safelisted request-header", Content-Type). This service's bodies are JSON, which a
 * cross-site page can only send after a preflight that CORS answers.
 */
const SIMPLE_CONTENT_TYPES = new Set([
  'application/x-www-form-urlencoded',
  'multipart/form-data',
  'text/plain',
]);

/**
 * Cross-site request forgery guard for AUTH_MODE=easyauth, where the browser attaches the Easy Auth session cookie
 * to whatever a page on any site sends. A state-changing request is refused when it is one a browser sends
 * cross-site without a preflight: a form or text content type (415), or an Origin that is neither this service's
 * own nor an allowed CORS origin, or `Sec-Fetch-Site: cross-site` without such an Origin (403). Requests without
 * these headers (server-to-server callers, curl) pass; in jwt mode credentials travel in Authorization, which a
 * cross-site page cannot set without a preflight, so the step does nothing there.
 */
export function refuseCrossSiteRequests(
  request: HttpRequest,
  settings: Pick<Settings, 'auth' | 'cors'>,
): void {
  if (settings.auth.mode !== 'easyauth' || SAFE_METHODS.has(request.method.toUpperCase())) return;
  const mediaType = request.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase();
  if (mediaType !== undefined && SIMPLE_CONTENT_TYPES.has(mediaType)) {
    throw new ProblemError(
      'unsupported-media-type',
      'This route takes JSON (application/json); form and text bodies are refused.',
      { reason: 'cross_site_content_type' },
    );
  }
  const origin = request.headers.get('origin');
  const trusted = origin !== null && isTrustedOrigin(origin, request, settings.cors);
  if (origin !== null && !trusted) {
    throw new ProblemError('forbidden', 'Requests from this origin may not change anything here.', {
      reason: 'cross_site_origin',
    });
  }
  if (!trusted && request.headers.get('sec-fetch-site')?.trim().toLowerCase() === 'cross-site') {
    throw new ProblemError('forbidden', 'Cross-site requests may not change anything here.', {
      reason: 'cross_site_fetch',
    });
  }
}

/**
 * This service's own origin (as the request reached it), or one that CORS lets in after a preflight: listed in
 * APP_CORS_ALLOWED_ORIGINS or the platform's CORS_ALLOWED_ORIGINS (a literal `*` there names no origin).
 */
function isTrustedOrigin(
  origin: string,
  request: HttpRequest,
  cors: { allowedOrigins: readonly string[]; platformOrigins: readonly string[] },
): boolean {
  return (
    origin === new URL(request.url).origin ||
    cors.allowedOrigins.includes(origin) ||
    cors.platformOrigins.includes(origin)
  );
}
