import { z } from 'zod';
import { isSecureOrLoopbackUrl } from '../shared/loopback.js';

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
 * APP_CORS_ALLOWED_ORIGINS: a comma list of exact origins, kept in the form browsers send in `Origin`
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

/** ASP.NET Core's CorsPolicyBuilder keeps origins this way: scheme and host lower-cased, a default port dropped. */
function normalisedPlatformOrigin(origin: string): string {
  if (!URL.canParse(origin)) return origin.toLowerCase();
  const url = new URL(origin);
  return url.protocol === 'https:' || url.protocol === 'http:' ? url.origin : origin.toLowerCase();
}

/**
 * CORS_ALLOWED_ORIGINS is not the service's setting: on Linux Consumption and Flex Consumption the platform fills it
 * from siteConfig.cors.allowedOrigins, and the Functions host answers CORS from it before the app runs. The host
 * reads it as a JSON array (Azure/azure-functions-host, src/WebJobs.Script.WebHost/Configuration/
 * HostCorsOptionsSetup.cs: JsonConvert.DeserializeObject<IEnumerable<string>>), so it is read the same way here, to
 * know which origins the platform already answers. A comma list is the service's own setting under its old name.
 */
export const platformAllowedOriginsSchema = z.string().transform((value, ctx) => {
  const refuse = () => {
    ctx.addIssue({
      code: 'custom',
      message:
        "is the Functions platform's CORS list (a JSON array, set from siteConfig.cors.allowedOrigins); " +
        "the service's own comma list is APP_CORS_ALLOWED_ORIGINS",
      input: undefined,
    });
    return z.NEVER;
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return refuse();
  }
  const list = z.array(z.string()).safeParse(parsed);
  return list.success ? [...new Set(list.data.map(normalisedPlatformOrigin))] : refuse();
});
