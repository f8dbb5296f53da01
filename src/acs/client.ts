import {
  type CommunicationAccessToken,
  CommunicationIdentityClient,
  type CommunicationIdentityClientOptions,
} from '@azure/communication-identity';
import { DefaultAzureCredential } from '@azure/identity';
import { isLoopbackUrl } from '../http/loopback.js';
import type { Settings } from '../settings.js';
import { isTransientFailure, toAcsError } from './errors.js';
import type { AcsScope } from './scopes.js';

function endpointOf(acs: Settings['acs']): URL {
  return new URL(
    acs.kind === 'connectionString'
      ? (/^endpoint=([^;]+);/i.exec(acs.connectionString)?.[1] ?? '')
      : acs.endpoint,
  );
}

/**
 * The one CommunicationIdentityClient of a process: access key from the connection string, or a managed identity
 * (AZURE_CLIENT_ID selects a user-assigned one). The SDK's own retries are off: it would sleep through ACS's
 * Retry-After (up to minutes) inside our time budget; the session below retries once when that can help.
 */
export function createIdentityClient(acs: Settings['acs']): CommunicationIdentityClient {
  const options: CommunicationIdentityClientOptions = {
    retryOptions: { maxRetries: 0 },
    allowInsecureConnection: isLoopbackUrl(endpointOf(acs)),
  };
  if (acs.kind === 'connectionString') return new CommunicationIdentityClient(acs.connectionString, options);
  const credential = new DefaultAzureCredential(
    acs.clientId ? { managedIdentityClientId: acs.clientId } : {},
  );
  return new CommunicationIdentityClient(acs.endpoint, credential, options);
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
export class AcsSession {
  /** HTTP calls made to ACS so far, retries included. */
  calls = 0;

  constructor(
    private readonly client: CommunicationIdentityClient,
    private readonly deadline: number,
    private readonly cleanupTimeoutMs: number,
  ) {}

  async createIdentityWithToken(
    scopes: readonly AcsScope[],
    expiresInMinutes: number,
  ): Promise<CreatedIdentity> {
    const { user, token, expiresOn } = await this.call((abortSignal) =>
      this.client.createUserAndToken([...scopes], { tokenExpiresInMinutes: expiresInMinutes, abortSignal }),
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
   * request's budget here would leave an orphan behind.
   */
  async deleteIdentity(communicationUserId: string): Promise<void> {
    await this.call(
      (abortSignal) => this.client.deleteUser({ communicationUserId }, { abortSignal }),
      Date.now() + this.cleanupTimeoutMs,
    );
  }

  private async call<T>(
    operation: (signal: AbortSignal) => Promise<T>,
    deadline = this.deadline,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw toAcsError(new DOMException('time budget exhausted', 'TimeoutError'));
      this.calls++;
      try {
        return await operation(AbortSignal.timeout(remaining));
      } catch (error) {
        if (attempt === 1 && isTransientFailure(error)) continue;
        throw toAcsError(error);
      }
    }
  }
}
