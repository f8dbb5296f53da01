/**
 * `npm run smoke`: proves a deployed service works for a real signed-in user. It asks the health route, then
 * `POST /api/token` with the user's Entra ID token, then the same without a token (which must be refused), and
 * prints what it saw, never a token.
 *
 * The service URL is SERVICE_API_URI (an azd output); the user token is USER_TOKEN, or, when unset, the device code
 * sign-in of `npm run token:user`. Both are read from the environment, else from `azd env get-values`.
 */
import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { isSecureOrLoopbackUrl } from '../src/shared/loopback.js';
import { getUserToken, parseEnvValues } from './user-token.js';

export interface SmokeStep {
  name: string;
  ok: boolean;
  detail: string;
}

/** Runs the three checks against `apiUrl` (the service's base URL, the API under /api). */
export async function smokeTest(apiUrl: string, userToken: string): Promise<SmokeStep[]> {
  const base = new URL(apiUrl);
  // The user's token never travels over plain HTTP to anything but this machine.
  if (!isSecureOrLoopbackUrl(base))
    throw new Error('SERVICE_API_URI must be https (plain http only for loopback)');
  const api = (path: string) => new URL(`/api/${path}`, base).href;
  const steps: SmokeStep[] = [];

  const health = await fetch(api('health'));
  steps.push({ name: 'GET /api/health', ok: health.status === 200, detail: `${health.status}` });

  const issued = await fetch(api('token'), {
    method: 'POST',
    headers: { authorization: `Bearer ${userToken}` },
  });
  const body = (await issued.json().catch(() => ({}))) as {
    user?: { communicationUserId?: string };
    token?: string;
    expiresOn?: string;
    title?: string;
    reason?: string;
  };
  const gotToken =
    issued.status === 200 && typeof body.token === 'string' && !!body.user?.communicationUserId;
  steps.push({
    name: 'POST /api/token as the signed-in user',
    ok: gotToken,
    detail: gotToken
      ? `200, an ACS token for ${body.user!.communicationUserId!.slice(0, 12)}… until ${body.expiresOn}`
      : `${issued.status} ${body.title ?? ''} ${body.reason ?? ''}`.trim(),
  });

  const anonymous = await fetch(api('token'), { method: 'POST' });
  await anonymous.body?.cancel();
  steps.push({
    name: 'POST /api/token without a token',
    ok: anonymous.status === 401,
    detail: `${anonymous.status}`,
  });
  return steps;
}

const run = promisify(execFile);

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    let values: Record<string, string | undefined> = process.env;
    if (!values.SERVICE_API_URI || (!values.USER_TOKEN && !values.ENTRA_API_CLIENT_ID)) {
      values = { ...parseEnvValues((await run('azd', ['env', 'get-values'])).stdout), ...process.env };
    }
    if (!values.SERVICE_API_URI) throw new Error('SERVICE_API_URI not set: run `azd up` first');
    const userToken =
      values.USER_TOKEN ||
      (await getUserToken({
        clientId: values.ENTRA_API_CLIENT_ID ?? '',
        tenantId: values.ENTRA_TENANT_ID ?? '',
        scope: values.ENTRA_API_SCOPE ?? '',
      }));
    const steps = await smokeTest(values.SERVICE_API_URI, userToken);
    for (const step of steps) console.log(`${step.ok ? 'ok  ' : 'FAIL'} ${step.name}: ${step.detail}`);
    const failed = steps.filter((step) => !step.ok).length;
    console.log(`${steps.length - failed} passed, ${failed} failed`);
    process.exit(failed === 0 ? 0 : 1);
  } catch (error) {
    console.error(`smoke: ${(error as Error).message}`);
    process.exit(1);
  }
}
