import { createAnonymousValidator } from './anonymous.js';
import { createEasyAuthValidator, type EasyAuthConfig } from './easy-auth.js';
import { createJwtValidator, type JwtValidatorConfig, type JwtValidatorOptions } from './jwt.js';
import type { CallerValidator } from './principal.js';

/** How callers are verified (AUTH_MODE and what that mode needs); the composition root passes the auth settings. */
export type CallerValidatorConfig =
  | ({ readonly mode: 'jwt' } & JwtValidatorConfig)
  | ({ readonly mode: 'easyauth' } & EasyAuthConfig)
  | { readonly mode: 'anonymous' };

/** The caller validator AUTH_MODE selects. */
export function createCallerValidator(
  auth: CallerValidatorConfig,
  jwtOptions?: JwtValidatorOptions,
): CallerValidator {
  switch (auth.mode) {
    case 'jwt':
      return createJwtValidator(auth, jwtOptions);
    case 'easyauth':
      return createEasyAuthValidator(auth);
    case 'anonymous':
      return createAnonymousValidator();
  }
}
