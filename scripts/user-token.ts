/**
 * `npm run token:user`: signs a real user in with Microsoft Entra ID (device code flow, @azure/msal-node) and prints
 * an access token for the deployed service on stdout, nothing else, so `USER_TOKEN=$(npm run -s token:user)` works.
 * The sign-in instructions (open the page, enter the code) go to stderr.
 *
 * It asks for the scope the preprovision hook exposed (ENTRA_API_SCOPE, `api://<appId>/access_as_user`) as the
 * public client of the same registration (ENTRA_API_CLIENT_ID) in its tenant (ENTRA_TENANT_ID). They are read from the
 * environment, else from `azd env get-values`. The token is kept in memory only: nothing is written to disk.
 */
import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { type INetworkModule, PublicClientApplication } from '@azure/msal-node';

export interface UserTokenRequest {
  clientId: string;
  tenantId: string;
  scope: string;
  /** Where the sign-in instructions go (default: stderr). */
  showCode?: (message: string) => void;
  /** MSAL's HTTP client; the default is MSAL's own. Tests give a stand-in for Entra, which cannot run here. */
  networkClient?: INetworkModule;
  authorityHost?: string;
}

const VARIABLES = ['ENTRA_API_CLIENT_ID', 'ENTRA_TENANT_ID', 'ENTRA_API_SCOPE'] as const;

/** `KEY="value"` lines, as `azd env get-values` prints them. */
export function parseEnvValues(text: string): Record<string, string> {
  return Object.fromEntries(
    [...text.matchAll(/^([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"$/gm)].map((match) => [
      match[1]!,
      match[2]!.replace(/\\(.)/g, '$1'),
    ]),
  );
}

export async function getUserToken(request: UserTokenRequest): Promise<string> {
  const client = new PublicClientApplication({
    auth: {
      clientId: request.clientId,
      authority: `${request.authorityHost ?? 'https://login.microsoftonline.com'}/${request.tenantId}`,
    },
    system: request.networkClient ? { networkClient: request.networkClient } : {},
  });
  const result = await client.acquireTokenByDeviceCode({
    scopes: [request.scope],
    deviceCodeCallback: (response) =>
      (request.showCode ?? ((text) => process.stderr.write(`${text}\n`)))(response.message),
  });
  if (!result?.accessToken) throw new Error('the sign-in gave no access token');
  return result.accessToken;
}

const run = promisify(execFile);

async function configuration(): Promise<Record<(typeof VARIABLES)[number], string>> {
  let values: Record<string, string | undefined> = process.env;
  if (VARIABLES.some((name) => !values[name])) {
    values = { ...parseEnvValues((await run('azd', ['env', 'get-values'])).stdout), ...process.env };
  }
  const missing = VARIABLES.filter((name) => !values[name]);
  if (missing.length > 0) {
    throw new Error(
      `${missing.join(', ')} not set: run \`azd provision\` (its preprovision hook registers the app) first`,
    );
  }
  return Object.fromEntries(VARIABLES.map((name) => [name, values[name]!])) as Record<
    (typeof VARIABLES)[number],
    string
  >;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const values = await configuration();
    const token = await getUserToken({
      clientId: values.ENTRA_API_CLIENT_ID,
      tenantId: values.ENTRA_TENANT_ID,
      scope: values.ENTRA_API_SCOPE,
    });
    process.stdout.write(`${token}\n`);
  } catch (error) {
    console.error(`token:user: ${(error as Error).message}`);
    process.exit(1);
  }
}
