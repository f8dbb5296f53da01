import { setTimeout as delay } from 'node:timers/promises';
import {
  type CommunicationAccessToken,
  CommunicationIdentityClient,
  type CommunicationIdentityClientOptions,
} from '@azure/communication-identity';
import type { TokenCredential } from '@azure/identity';
import { requireCredential } from '../shared/credential.js';
import { AcsUnavailableError } from '../shared/errors.js';
import { isLoopbackUrl } from '../shared/loopback.js';
import type { AcsAttempt, AcsUsage } from '../telemetry.js';
import { isTransientFailure, toAcsError } from './errors.js';
import type { AcsScope } from './scopes.js';

/** How the app reaches ACS: an access key in a connection string, or an endpoint with the managed identity. */
export type AcsConnection =
  | { readonly kind: 'connectionString'; readonly connectionString: string }
  | { readonly kind: 'managedIdentity'; readonly endpoint: string };

function endpointOf(acs: AcsConnection): URL {
  return new URL(
    acs.kind === 'connectionString'
      ? (/^endpoint=([^;]+);/i.exec(acs.connectionString)?.[1] ?? '')
      : acs.endpoint,
  );
}

/**
 * The one CommunicationIdentityClient of a process: access key from the connection string, or a managed identity
 * through `credential`, the process's one (src/shared/credential.ts). The SDK's own retries are off: it would
 * sleep through ACS's Retry-After (up to minutes) inside our time budget; the session below retries once when that
 * can help.
 */
export function createIdentityClient(
  acs: AcsConnection,
  credential?: TokenCredential,
): CommunicationIdentityClient {
  const options: CommunicationIdentityClientOptions = {
    retryOptions: { maxRetries: 0 },
    allowInsecureConnection: isLoopbackUrl(endpointOf(acs)),
  };
  if (acs.kind === 'connectionString') return new CommunicationIdentityClient(acs.connectionString, options);
  return new CommunicationIdentityClient(acs.endpoint, requireCredential(credential), options);
}

export interface IssuedToken {
  token: string;
  expiresOn: Date;
}

export interface CreatedIdentity extends IssuedToken {
  communicationUserId: string;
}

/** The ACS calls the service makes; one session per request so each request has its own budget and call count. */
export class AcsGateway {
  constructor(
    private readonly client: CommunicationIdentityClient,
    private readonly timeoutMs: number,
  ) {}

  session(): AcsSession {
    return new AcsSession(this.client, Date.now() + this.timeoutMs, this.timeoutMs);
  }
}

/**
 * The ACS calls of one request, all within one time budget: a hanging ACS ends the request in 503, not a hang.
 * Errors come out classified (AcsUnavailableError / AcsFailureError), never as the SDK's error.
 */
export class AcsSession implements AcsUsage {
  /** HTTP calls made to ACS so far, retries included. */
  calls = 0;
  /** How each of those calls ended and how long it took, for the request log line. */
  readonly attempts: AcsAttempt[] = [];
  /** Tokens ACS issued in this request. */
  tokensIssued = 0;
  /** Tokens handed back from an earlier request instead of asking ACS again (see src/tokens/). */
  tokensReused = 0;

  constructor(
    private readonly client: CommunicationIdentityClient,
    private readonly deadline: number,
    private readonly cleanupTimeoutMs: number,
  ) {}

  /** Milliseconds left of the request's budget. */
  remainingMs(): number {
    return this.deadline - Date.now();
  }

  /**
   * Creates an identity with its token, within the request's budget, or within `budgetMs` of its own: a create whose
   * answer must reach the identity store is not cut off when the request has to answer (src/identities/provisioning.ts).
   */
  async createIdentityWithToken(
    scopes: readonly AcsScope[],
    expiresInMinutes: number,
    budgetMs?: number,
  ): Promise<CreatedIdentity> {
    const { user, token, expiresOn } = await this.call(
      (abortSignal) =>
        this.client.createUserAndToken([...scopes], { tokenExpiresInMinutes: expiresInMinutes, abortSignal }),
      budgetMs === undefined ? this.deadline : Date.now() + budgetMs,
    );
    return { communicationUserId: user.communicationUserId, token, expiresOn };
  }

  async issueToken(
    communicationUserId: string,
    scopes: readonly AcsScope[],
    expiresInMinutes: number,
  ): Promise<IssuedToken> {
    const { token, expiresOn }: CommunicationAccessToken = await this.call((abortSignal) =>
      this.client.getToken({ communicationUserId }, [...scopes], {
        tokenExpiresInMinutes: expiresInMinutes,
        abortSignal,
      }),
    );
    return { token, expiresOn };
  }

  /**
   * Deletes an identity this request created and must not keep. It gets a fresh budget: running out of the
   * request's budget here would leave an orphan behind. Throttled or unavailable, it waits out ACS's Retry-After
   * and tries again while that budget lasts.
   */
  async deleteIdentity(communicationUserId: string): Promise<void> {
    const deadline = Date.now() + this.cleanupTimeoutMs;
    for (;;) {
      try {
        await this.call(
          (abortSignal) => this.client.deleteUser({ communicationUserId }, { abortSignal }),
          deadline,
        );
        return;
      } catch (error) {
        // An orphan outlives any wait: while ACS asks to come back later and the budget allows it, come back.
        const waitMs =
          error instanceof AcsUnavailableError ? error.retryAfterSeconds * 1000 : Number.POSITIVE_INFINITY;
        if (Date.now() + waitMs >= deadline) throw error;
        await delay(waitMs);
      }
    }
  }

  /** Every token issued to the identity so far stops working. */
  async revokeTokens(communicationUserId: string): Promise<void> {
    await this.call((abortSignal) => this.client.revokeTokens({ communicationUserId }, { abortSignal }));
  }

  /** Deletes a user's identity (which revokes its tokens) within the request's budget, as the user asked. */
  async eraseIdentity(communicationUserId: string): Promise<void> {
    await this.call((abortSignal) => this.client.deleteUser({ communicationUserId }, { abortSignal }));
  }

  /** Exchanges a Teams user's Entra ID token for an ACS token of that Teams user. */
  async exchangeTeamsToken(exchange: {
    teamsUserAadToken: string;
    clientId: string;
    userObjectId: string;
  }): Promise<IssuedToken> {
    const { token, expiresOn } = await this.call((abortSignal) =>
      this.client.getTokenForTeamsUser({ ...exchange, abortSignal }),
    );
    return { token, expiresOn };
  }

  private async call<T>(
    operation: (signal: AbortSignal) => Promise<T>,
    deadline = this.deadline,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw toAcsError(new DOMException('time budget exhausted', 'TimeoutError'));
      this.calls++;
      const started = performance.now();
      try {
        const answer = await operation(AbortSignal.timeout(remaining));
        this.attempts.push({ outcome: 'ok', ms: performance.now() - started });
        // Every ACS operation that issues a token (create with token, issue, Teams exchange) answers with it.
        if (typeof (answer as { token?: unknown } | undefined)?.token === 'string') this.tokensIssued++;
        return answer;
      } catch (error) {
        this.attempts.push({ outcome: toAcsError(error).reason, ms: performance.now() - started });
        if (attempt === 1 && isTransientFailure(error)) continue;
        throw toAcsError(error);
      }
    }
  }
}
