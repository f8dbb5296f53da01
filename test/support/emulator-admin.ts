import { z } from 'zod';
import type { Stats } from '../../dev/emulator/state.js';

/** The emulator's answer to POST /emulator/introspect. */
export const introspectionSchema = z.object({
  active: z.boolean(),
  inactiveReason: z.string().optional(),
  communicationUserId: z.string().optional(),
  scopes: z.array(z.string()).optional(),
  expiresOn: z.string().optional(),
});
export type Introspection = z.infer<typeof introspectionSchema>;

/** The emulator's own endpoints a test reads what ACS saw with: its counters, identities, and token introspection. */
export function emulatorAdmin(emulator: { endpoint: string }) {
  const json = async <T>(route: string, init?: RequestInit): Promise<T> => {
    const response = await fetch(new URL(`emulator/${route}`, emulator.endpoint), init);
    if (!response.ok) throw new Error(`emulator ${route}: ${response.status}`);
    return (await response.json()) as T;
  };
  return {
    stats: () => json<Stats>('stats'),
    identities: async () => (await json<{ identities: string[] }>('identities')).identities,
    introspect: async (token: string): Promise<Introspection> =>
      introspectionSchema.parse(
        await json('introspect', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ token }),
        }),
      ),
  };
}

/** POST /api/token at `baseUrl` with a bearer token and an optional JSON body, as a client sends it. */
export function postToken(baseUrl: string, bearer: string, body?: unknown): Promise<Response> {
  return fetch(`${baseUrl}/api/token`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${bearer}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}
