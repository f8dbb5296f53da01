import type { UserScope } from '../app-services.js';
import { type ActorKind, audited } from '../audit.js';
import type { Principal } from '../caller/principal.js';
import { ProblemError } from '../http/problem.js';
import type { UserKey } from '../identities/identity-store.js';
import {
  type DeleteResult,
  deleteUserIdentity,
  type LifecycleDependencies,
  type RevokeResult,
  revokeUserTokens,
} from '../identities/lifecycle.js';

/** The verified caller as a user with a durable identity; anonymous callers have none to look at or change. */
export function durableUser(caller: Principal): UserKey {
  if (caller.anonymous) {
    throw new ProblemError('forbidden', 'In anonymous mode nobody has a durable identity.');
  }
  return { issuer: caller.issuer, userId: caller.userId };
}

function dependencies({ services, acs }: UserScope): LifecycleDependencies {
  return { store: services.store, acs };
}

/** Revokes `subject`'s tokens for the caller (the subject itself, or an admin), audited. */
export function revokeAudited(
  scope: UserScope,
  actorKind: ActorKind,
  subject: UserKey,
): Promise<RevokeResult> {
  return audited(
    scope.log,
    {
      action: 'identity.revoke',
      actorKind,
      actor: scope.caller,
      subject,
    },
    () => revokeUserTokens(dependencies(scope), subject),
  );
}

/** Deletes `subject`'s identity and mapping for the caller (the subject itself, or an admin), audited. */
export function deleteAudited(
  scope: UserScope,
  actorKind: ActorKind,
  subject: UserKey,
): Promise<DeleteResult> {
  return audited(
    scope.log,
    {
      action: 'identity.delete',
      actorKind,
      actor: scope.caller,
      subject,
    },
    () => deleteUserIdentity(dependencies(scope), subject),
  );
}
