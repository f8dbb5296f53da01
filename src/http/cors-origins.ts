import { z } from 'zod';
import { isSecureOrLoopbackUrl } from './loopback.js';

const ORIGIN_FORM = 'scheme://host[:port]';

/** Why `value` is not an exact browser origin the service may allow, or undefined when it is one. */
function originProblem(value: string): string | undefined {
  if (value.includes('*')) return 'must list exact origins; wildcards (*) are refused (deny by default)';
  if (!URL.canParse(value)) return `must list origins of the form ${ORIGIN_FORM}`;
  const url = new URL(value);
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return `must list http(s) origins of the form ${ORIGIN_FORM}`;
  // Anything after the authority (path, query, fragment, even a trailing slash) or user info makes it no origin.
  const authority = value.slice(url.protocol.length + 2);
  if (!value.toLowerCase().startsWith(`${url.protocol}//`) || /[/?#@\\]/.test(authority)) {
    return `must list origins of the form ${ORIGIN_FORM}, with no path, query or trailing slash`;
  }
  if (!isSecureOrLoopbackUrl(url))
    return 'must list https origins (plain http is allowed for loopback origins only)';
  return undefined;
}

/**
 * CORS_ALLOWED_ORIGINS: a comma list of exact origins, kept in the form browsers send in `Origin`
 * (lower-case scheme and host, default port dropped), so matching is a plain string comparison.
 */
export const allowedOriginsSchema = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0),
  )
  .superRefine((origins, ctx) => {
    const problems = new Set(origins.map(originProblem).filter((problem) => problem !== undefined));
    for (const message of problems) ctx.addIssue({ code: 'custom', message, input: undefined });
  })
  .transform((origins) => [...new Set(origins.map((origin) => new URL(origin).origin))]);
