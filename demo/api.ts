import type { z } from 'zod';
import type { tokenResponseSchema } from '../src/functions/issue-token.js';
import { DEV_TOKEN_PATH, type DemoConfig } from './config.js';

export type TokenResponse = z.output<typeof tokenResponseSchema>;

/** An RFC 9457 problem document as the page shows it; failures that got no readable answer are described alike. */
export interface Problem {
  title: string;
  status?: number;
  detail?: string;
  invocationId?: string;
  errors?: { name: string; reason: string }[];
}

export class ProblemError extends Error {
  override readonly name = 'ProblemError';

  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title);
  }
}

/** One request the page made, for the activity list. */
export interface CallRecord {
  method: string;
  url: string;
  status: number | 'failed';
  milliseconds: number;
  crossOrigin: boolean;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** The answer's problem document, the dev issuer's OAuth-style error, or a plain description of the status. */
async function problemFrom(response: Response): Promise<Problem> {
  const fallback: Problem = {
    title: `HTTP ${response.status} ${response.statusText}`.trim(),
    status: response.status,
  };
  if (!/json/i.test(response.headers.get('content-type') ?? '')) return fallback;
  const body: unknown = await response.json().catch(() => undefined);
  if (typeof body !== 'object' || body === null) return fallback;
  const fields = body as Record<string, unknown>;
  const errors = Array.isArray(fields.errors)
    ? fields.errors.flatMap((item: unknown) => {
        const { name, reason } = (item ?? {}) as Record<string, unknown>;
        return text(name) && text(reason) ? [{ name: name as string, reason: reason as string }] : [];
      })
    : [];
  const detail = text(fields.detail) ?? text(fields.error_description);
  const invocationId = text(fields.invocationId);
  return {
    title: text(fields.title) ?? text(fields.error) ?? fallback.title,
    status: typeof fields.status === 'number' ? fields.status : response.status,
    ...(detail ? { detail } : {}),
    ...(invocationId ? { invocationId } : {}),
    ...(errors.length > 0 ? { errors } : {}),
  };
}

/** The page's calls: sign-in through its own server, everything else straight to the service on its other origin. */
export function createServiceClient(config: DemoConfig, onCall: (record: CallRecord) => void) {
  const api = (path: string) => new URL(`/api/${path}`, config.serviceUrl).href;

  async function call(method: string, path: string, init: RequestInit = {}): Promise<Response> {
    const started = performance.now();
    const url = new URL(path, location.href).href;
    const crossOrigin = new URL(url).origin !== location.origin;
    const record = (status: CallRecord['status']) =>
      onCall({ method, url, status, milliseconds: Math.round(performance.now() - started), crossOrigin });
    let response: Response;
    try {
      response = await fetch(url, { ...init, method, cache: 'no-store' });
    } catch {
      record('failed');
      // The browser hides why on purpose: a CORS refusal looks exactly like an unreachable server.
      throw new ProblemError({
        title: 'The request got no readable answer',
        detail: crossOrigin
          ? `${method} ${url} failed: the service is not running, or it does not allow this page's origin ` +
            `(${location.origin}) in APP_CORS_ALLOWED_ORIGINS. The browser console names the reason.`
          : `${method} ${url} failed: is the demo server still running?`,
      });
    }
    record(response.status);
    if (!response.ok) throw new ProblemError(await problemFrom(response));
    return response;
  }

  const bearer = (userToken: string) => ({ Authorization: `Bearer ${userToken}` });

  return {
    serviceOrigin: new URL(config.serviceUrl).origin,

    /** A development user's token from the dev identity provider. */
    async signIn(user: string): Promise<string> {
      const response = await call('POST', DEV_TOKEN_PATH, {
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ user }),
      });
      const { access_token: accessToken } = (await response.json()) as { access_token: string };
      return accessToken;
    },

    async issueToken(userToken: string, scopes: readonly string[]): Promise<TokenResponse> {
      const response = await call('POST', api('token'), {
        headers: { ...bearer(userToken), 'Content-Type': 'application/json' },
        body: JSON.stringify({ scopes }),
      });
      return (await response.json()) as TokenResponse;
    },

    async revokeTokens(userToken: string): Promise<void> {
      await call('POST', api('identity/revoke'), { headers: bearer(userToken) });
    },

    async deleteIdentity(userToken: string): Promise<void> {
      await call('DELETE', api('identity'), { headers: bearer(userToken) });
    },
  };
}

export type ServiceClient = ReturnType<typeof createServiceClient>;
