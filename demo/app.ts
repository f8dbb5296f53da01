import { AzureCommunicationTokenCredential } from '@azure/communication-common';
import { decodeJwt } from 'jose';
import {
  type CallRecord,
  createServiceClient,
  type Problem,
  ProblemError,
  type ServiceClient,
} from './api.js';
import { CONFIG_PATH, type DemoConfig } from './config.js';

/** What the page knows about the latest token; the credential holds the token itself for whoever uses it. */
interface Grant {
  communicationUserId: string;
  token: string;
  scopes: string[];
  expiresOnMs: number;
  state: 'active' | 'revoked' | 'deleted';
  /** The service handed back the token it had issued before (TOKEN_REUSE), instead of a new one. */
  reused: boolean;
}

interface Session {
  user: string;
  userToken: string;
  credential?: AzureCommunicationTokenCredential;
  grant?: Grant;
}

const MAX_ACTIVITY_ENTRIES = 8;

function byTestId<T extends HTMLElement = HTMLElement>(testId: string): T {
  const element = document.querySelector<T>(`[data-testid="${testId}"]`);
  if (!element) throw new Error(`The page has no element ${testId}`);
  return element;
}

const view = {
  main: document.getElementById('main')!,
  pageOrigin: byTestId('page-origin'),
  serviceOrigin: byTestId('service-origin'),
  crossOrigin: byTestId('cross-origin'),
  signInForm: byTestId<HTMLFormElement>('sign-in-form'),
  userName: byTestId<HTMLInputElement>('user-name'),
  signIn: byTestId<HTMLButtonElement>('sign-in'),
  signedIn: byTestId('signed-in'),
  signedInUser: byTestId('signed-in-user'),
  signOut: byTestId<HTMLButtonElement>('sign-out'),
  scopeChoices: byTestId('scope-choices'),
  identity: byTestId('identity'),
  scopes: byTestId('scopes'),
  expiresOn: byTestId<HTMLTimeElement>('expires-on'),
  countdown: byTestId('countdown'),
  status: byTestId('status'),
  token: byTestId('token'),
  refresh: byTestId<HTMLButtonElement>('refresh'),
  revoke: byTestId<HTMLButtonElement>('revoke'),
  remove: byTestId<HTMLButtonElement>('delete'),
  error: byTestId('error'),
  errorTitle: byTestId('error-title'),
  errorStatus: byTestId('error-status'),
  errorDetail: byTestId('error-detail'),
  errorFields: byTestId('error-fields'),
  errorInvocation: byTestId('error-invocation'),
  dismissError: byTestId<HTMLButtonElement>('dismiss-error'),
  activity: byTestId('activity'),
};

let session: Session | undefined;
let busy = false;

const STATUS_TEXT: Record<Grant['state'] | 'signed-out' | 'no-token' | 'reused', string> = {
  'signed-out': 'Not signed in',
  'no-token': 'No token yet',
  active: 'Active · the credential refreshes it before it expires',
  reused: 'Active · the service handed back the token it issued earlier, which is still fresh (TOKEN_REUSE)',
  revoked: 'Revoked · every token issued so far stopped working; Refresh gets a new one',
  deleted: 'Identity deleted · Refresh creates a new ACS identity',
};

function selectedScopes(): string[] {
  return [...view.scopeChoices.querySelectorAll<HTMLInputElement>('input:checked')].map(
    (input) => input.value,
  );
}

function formatRemaining(milliseconds: number): string {
  const total = Math.max(0, Math.floor(milliseconds / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const pad = (value: number) => String(value).padStart(2, '0');
  return hours > 0 ? `${hours}:${pad(minutes)}:${pad(seconds)}` : `${pad(minutes)}:${pad(seconds)}`;
}

function renderCountdown(): void {
  const grant = session?.grant;
  if (!grant) {
    view.countdown.textContent = '—';
    delete view.countdown.dataset.seconds;
    return;
  }
  const remaining = grant.expiresOnMs - Date.now();
  view.countdown.dataset.seconds = String(Math.max(0, Math.floor(remaining / 1000)));
  view.countdown.textContent = remaining > 0 ? formatRemaining(remaining) : 'expired';
}

function render(): void {
  const grant = session?.grant;
  const state = !session ? 'signed-out' : (grant?.state ?? 'no-token');
  view.signInForm.hidden = session !== undefined;
  view.signedIn.hidden = session === undefined;
  view.signedInUser.textContent = session?.user ?? '';
  view.identity.textContent = grant?.communicationUserId ?? '—';
  view.identity.classList.toggle('gone', grant?.state === 'deleted');
  view.scopes.textContent = grant ? grant.scopes.join(', ') : '—';
  view.expiresOn.textContent = grant ? new Date(grant.expiresOnMs).toLocaleString() : '—';
  view.expiresOn.dateTime = grant ? new Date(grant.expiresOnMs).toISOString() : '';
  view.token.textContent = grant?.token ?? '';
  view.status.textContent = state === 'active' && grant?.reused ? STATUS_TEXT.reused : STATUS_TEXT[state];
  view.status.dataset.state = state;
  view.signIn.disabled = busy;
  view.signOut.disabled = busy;
  view.refresh.disabled = busy || !session;
  view.revoke.disabled = busy || !session || grant?.state === 'deleted';
  view.remove.disabled = busy || !session || grant?.state === 'deleted';
  view.main.setAttribute('aria-busy', String(busy));
  renderCountdown();
}

function showProblem(problem: Problem): void {
  view.errorTitle.textContent = problem.title;
  view.errorStatus.textContent = problem.status === undefined ? 'no answer' : String(problem.status);
  view.errorDetail.textContent = problem.detail ?? '';
  view.errorFields.replaceChildren(
    ...(problem.errors ?? []).map(({ name, reason }) => {
      const item = document.createElement('li');
      const field = document.createElement('code');
      field.textContent = name;
      item.append(field, ` ${reason}`);
      return item;
    }),
  );
  view.errorInvocation.hidden = problem.invocationId === undefined;
  view.errorInvocation.querySelector('code')!.textContent = problem.invocationId ?? '';
  view.error.hidden = false;
}

function showError(error: unknown): void {
  if (error instanceof ProblemError) {
    showProblem(error.problem);
    return;
  }
  showProblem({
    title: 'Something went wrong in the page',
    detail: error instanceof Error ? error.message : '',
  });
}

function clearError(): void {
  view.error.hidden = true;
}

function recordCall(call: CallRecord): void {
  const item = document.createElement('li');
  item.classList.toggle('failed', call.status === 'failed' || call.status >= 400);
  const status = call.status === 'failed' ? 'failed' : String(call.status);
  item.textContent = `${call.method} ${call.url} → ${status} (${call.milliseconds} ms)`;
  if (call.crossOrigin) {
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = 'cross-origin';
    item.append(' ', badge);
  }
  view.activity.prepend(item);
  while (view.activity.children.length > MAX_ACTIVITY_ENTRIES) view.activity.lastElementChild?.remove();
}

/** Runs one user action: one at a time, buttons disabled meanwhile, any failure shown as a problem. */
async function act(action: () => Promise<void>): Promise<void> {
  if (busy) return;
  busy = true;
  clearError();
  render();
  try {
    await action();
  } catch (error) {
    showError(error);
  } finally {
    busy = false;
    render();
  }
}

/**
 * A new credential whose tokenRefresher calls the service (also for its proactive refreshes, long after this
 * returns). The SDK has no "refresh now", so a forced refresh is a new credential; the old one stays in use until
 * the new one has a token.
 */
async function obtainToken(client: ServiceClient, current: Session): Promise<void> {
  const tokenRefresher = async (): Promise<string> => {
    try {
      const answer = await client.issueToken(current.userToken, selectedScopes());
      const claims = decodeJwt(answer.token);
      const reused = answer.token === current.grant?.token;
      current.grant = {
        communicationUserId: answer.user.communicationUserId,
        token: answer.token,
        scopes: typeof claims.acsScope === 'string' ? claims.acsScope.split(',') : selectedScopes(),
        expiresOnMs: Date.parse(answer.expiresOn),
        state: 'active',
        reused,
      };
      render();
      return answer.token;
    } catch (error) {
      // Proactive refreshes run in the background: nobody else would show their failure.
      showError(error);
      throw error;
    }
  };
  const credential = new AzureCommunicationTokenCredential({ tokenRefresher, refreshProactively: true });
  try {
    const access = await credential.getToken();
    if (current.grant) current.grant.expiresOnMs = access.expiresOnTimestamp;
  } catch (error) {
    credential.dispose();
    throw error;
  }
  current.credential?.dispose();
  current.credential = credential;
}

function endTokens(current: Session, state: 'revoked' | 'deleted'): void {
  // The credential would keep handing out its cached token, which no longer works.
  current.credential?.dispose();
  delete current.credential;
  if (current.grant) current.grant.state = state;
}

function renderScopeChoices(config: DemoConfig): void {
  view.scopeChoices.replaceChildren(
    ...config.scopes.map((scope) => {
      const label = document.createElement('label');
      const input = document.createElement('input');
      input.type = 'checkbox';
      input.value = scope;
      input.checked = config.defaultScopes.includes(scope);
      input.dataset.testid = `scope-${scope}`;
      label.append(input, ` ${scope}`);
      return label;
    }),
  );
}

async function start(): Promise<void> {
  const response = await fetch(CONFIG_PATH, { cache: 'no-store' });
  if (!response.ok) throw new Error(`${CONFIG_PATH} answered ${response.status}`);
  const config = (await response.json()) as DemoConfig;
  const client = createServiceClient(config, recordCall);

  view.pageOrigin.textContent = location.origin;
  view.serviceOrigin.textContent = client.serviceOrigin;
  view.crossOrigin.hidden = client.serviceOrigin === location.origin;
  renderScopeChoices(config);

  // Already shown by the tokenRefresher; the SDK's background refresh has no one else to catch it.
  window.addEventListener('unhandledrejection', (event) => {
    if (event.reason instanceof ProblemError) event.preventDefault();
  });

  view.signInForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const user = view.userName.value.trim();
    void act(async () => {
      const next: Session = { user, userToken: await client.signIn(user) };
      session = next;
      await obtainToken(client, next);
    });
  });
  view.signOut.addEventListener('click', () => {
    session?.credential?.dispose();
    session = undefined;
    clearError();
    render();
  });
  view.refresh.addEventListener('click', () => {
    const current = session;
    if (current) void act(() => obtainToken(client, current));
  });
  view.revoke.addEventListener('click', () => {
    const current = session;
    if (!current) return;
    void act(async () => {
      await client.revokeTokens(current.userToken);
      endTokens(current, 'revoked');
    });
  });
  view.remove.addEventListener('click', () => {
    const current = session;
    if (!current) return;
    void act(async () => {
      await client.deleteIdentity(current.userToken);
      endTokens(current, 'deleted');
    });
  });
  view.dismissError.addEventListener('click', clearError);

  setInterval(renderCountdown, 1000);
  render();
}

start().catch((error: unknown) => {
  showError(error);
  view.main.setAttribute('aria-busy', 'false');
});
