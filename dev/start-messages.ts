import type { Settings } from '../src/settings.js';
import { devUserIds } from './dev-issuer.js';

/** What `npm start` prints: the banner of a running service, and boxes for what a person must not miss. */

const MAX_WIDTH = 100;
/** The users the printed commands act as: a user to get a token for, and an admin to revoke or erase it. */
export const TRY_USER = 'alice';
export const TRY_ADMIN = 'admin';

/** The lines framed in a box, long ones wrapped at spaces, so a warning stands out of a scrolling log. */
export function boxed(title: string, lines: readonly string[]): string {
  const wrapped = lines.flatMap((line) => wrap(line, MAX_WIDTH - 4));
  const width = Math.max(title.length + 2, ...wrapped.map((line) => line.length));
  return [
    `┌─ ${title} ${'─'.repeat(width - title.length - 1)}┐`,
    ...wrapped.map((line) => `│ ${line.padEnd(width)} │`),
    `└${'─'.repeat(width + 2)}┘`,
  ].join('\n');
}

function wrap(line: string, width: number): string[] {
  if (line.length <= width) return [line];
  const indent = /^\s*/.exec(line)![0];
  const lines: string[] = [];
  let current = '';
  for (const word of line.trim().split(' ')) {
    if (current !== '' && indent.length + current.length + 1 + word.length > width) {
      lines.push(indent + current);
      current = `  ${word}`;
    } else current = current === '' ? word : `${current} ${word}`;
  }
  return [...lines, indent + current];
}

/** The box for invalid settings: each setting and why, never a value (SettingsError's reasons quote none). */
export function invalidSettingsBox(
  problems: readonly { setting: string; reason: string }[],
  settingsFile: string | undefined,
): string {
  return boxed('The settings are invalid', [
    'The service runs, but every route answers 503 (misconfigured) until these are fixed:',
    '',
    ...problems.map(({ setting, reason }) => `  ${setting} ${reason}`),
    '',
    `Fix them in ${settingsFile ? `${settingsFile} (Values) or ` : ''}the environment, then restart npm start.`,
    'Every setting, its default and its meaning: docs/settings.md',
  ]);
}

/** The port settings of npm start, and what listens on each. */
export const portSettings = {
  PORT: 'The service',
  DEMO_PORT: 'The browser demo',
  DEV_ISSUER_PORT: 'The development identity provider',
} as const;
export type PortSetting = keyof typeof portSettings;

/** Ports to suggest instead of taken ones: the usual ones moved by a thousand. */
const OTHER_PORTS: Record<PortSetting, number> = { PORT: 8071, DEMO_PORT: 8072, DEV_ISSUER_PORT: 8073 };

/** Why npm start stopped when `port` was taken: the setting that chose it, and how to choose another. */
export function portTakenBox(setting: PortSetting, port: number): string {
  const other = OTHER_PORTS[setting] === port ? OTHER_PORTS[setting] + 1000 : OTHER_PORTS[setting];
  const fix =
    setting === 'PORT'
      ? `Stop what uses it (an earlier npm start?), or start on other ports: PORT=${other} npm start ` +
        '(the browser demo and the development identity provider follow on PORT+1 and PORT+2).'
      : `Stop what uses it, or set ${setting} to a free port (by default it is PORT+${setting === 'DEMO_PORT' ? 1 : 2}), ` +
        `e.g. ${setting}=${other} npm start, or move all three with PORT.`;
  return boxed(`Port ${port} is taken`, [
    `${portSettings[setting]} cannot listen on 127.0.0.1:${port} (${setting}): another process uses that port.`,
    fix,
  ]);
}

/** npm start could not start: the reason only (an error's message is ours; a stack would bury it). */
export function failedBox(message: string): string {
  return boxed('npm start could not start', [message]);
}

export interface BannerFacts {
  api: string;
  /** Every instance's API, when more than one runs. */
  instances?: string[];
  emulatorEndpoint?: string;
  issuer?: { url: string; audience: string };
  demoLine?: string;
  settings: Settings | undefined;
  /** How the identity store is reached, in words; undefined when the settings are invalid. */
  store?: string;
  authMode: string;
}

/** The banner printed once everything listens: where things are, and commands to paste. */
export function banner(facts: BannerFacts): string {
  const { api, issuer, settings } = facts;
  const lines = [
    '',
    `ACS token service listening on ${api}`,
    `  POST ${api}/token    GET ${api}/token?scopes=chat,voip    GET ${api}/health`,
    ...(facts.instances
      ? [`  ${facts.instances.length} instances, one emulator and one store: ${facts.instances.join('  ')}`]
      : []),
    facts.emulatorEndpoint
      ? `  ACS emulator (in-process, no Azure account): ${facts.emulatorEndpoint}`
      : '  ACS: the configured Communication Services resource',
    issuer
      ? `  Development identity provider: ${issuer.url} (audience ${issuer.audience})`
      : `  Caller validation: AUTH_MODE=${facts.authMode}`,
    ...(facts.demoLine ? [facts.demoLine] : []),
    ...(facts.store ? [`  Identity store: ${facts.store}`] : []),
    '',
  ];
  if (!settings) return lines.join('\n');
  const tokenCall = `curl -s -X POST ${api}/token -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"scopes":["chat","voip"]}'`;
  if (!issuer) {
    lines.push('Try it (with a token from your identity provider):', `  ${tokenCall}`, '');
    return lines.join('\n');
  }
  lines.push('Try it:', `  TOKEN=${mintCommand(issuer.url, { user: TRY_USER })}`, `  ${tokenCall}`, '');
  const userId = devUserId(settings, TRY_USER);
  if (settings.adminRole && userId) {
    const admin = `-H "Authorization: Bearer $ADMIN_TOKEN"`;
    lines.push(
      `Try the admin routes (AUTH_ADMIN_ROLE=${settings.adminRole}; ${TRY_USER}'s user id is the same on every run):`,
      `  ADMIN_TOKEN=${mintCommand(issuer.url, { user: TRY_ADMIN, roles: [settings.adminRole] })}`,
      `  curl -s -i -X POST ${api}/admin/users/${userId}/revoke ${admin}`,
      `  curl -s -i -X DELETE ${api}/admin/users/${userId} ${admin}`,
      '',
    );
  }
  return lines.join('\n');
}

function mintCommand(issuer: string, body: { user: string; roles?: string[] }): string {
  return `$(curl -s -X POST ${issuer}/token -H 'Content-Type: application/json' -d '${JSON.stringify(body)}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')`;
}

/**
 * The id the admin routes take for a development user: its value of AUTH_USER_CLAIM, which the development identity
 * provider derives from the name alone; undefined for a claim it does not set.
 */
function devUserId(settings: Settings, user: string): string | undefined {
  if (settings.auth.mode !== 'jwt') return undefined;
  const claim = settings.auth.userClaim;
  if (claim === 'oid' || claim === 'sub') return devUserIds(user)[claim];
  return claim === 'name' ? user : undefined;
}
