import type { Settings } from '../settings.js';
import { createAnonymousValidator } from './anonymous.js';
import { createEasyAuthValidator } from './easy-auth.js';
import { createJwtValidator, type JwtValidatorOptions } from './jwt.js';
import type { CallerValidator } from './principal.js';

/** The caller validator AUTH_MODE selects. */
export function createCallerValidator(
  auth: Settings['auth'],
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
