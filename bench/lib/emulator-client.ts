import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { FaultSettings } from '../../dev/emulator/faults.js';

export interface EmulatorStats {
  operations: Record<string, number>;
  identities: { active: number };
  /** Calls the emulator refused, by reason: `faults` counts the failures it injected. */
  rejected: Record<string, number>;
  /** Calls the emulator carried out whose answer nobody was left to receive (the caller was gone). */
  undelivered: Record<string, number>;
}

/** Whether the emulator would still honour a token it issued (POST /emulator/introspect). */
export interface Introspection {
  active: boolean;
  inactiveReason?: string;
  communicationUserId?: string;
}

/** What the emulator counted between two snapshots: every ACS API call, and the identities created. */
export interface AcsUsage {
  calls: number;
  identitiesCreated: number;
}

/** The emulator's own endpoints (stats, faults), over HTTPS trusting the emulator's CA only. */
export class EmulatorClient {
  private readonly ca: Buffer;

  constructor(
    private readonly endpoint: string,
    caCertPath: string,
  ) {
    this.ca = readFileSync(caCertPath);
  }

  async stats(): Promise<EmulatorStats> {
    return JSON.parse(await this.request('GET', 'emulator/stats')) as EmulatorStats;
  }

  /** ACS latency added to every API call from now on (PUT /emulator/faults). */
  async setLatency(latencyMs: number): Promise<void> {
    await this.setFaults({ latencyMs });
  }

  /** Injected latency, failures or throttling from now on; settings left out keep their value. */
  async setFaults(faults: FaultSettings): Promise<void> {
    await this.request('PUT', 'emulator/faults', JSON.stringify(faults));
  }

  async introspect(token: string): Promise<Introspection> {
    return JSON.parse(
      await this.request('POST', 'emulator/introspect', JSON.stringify({ token })),
    ) as Introspection;
  }

  private request(method: string, path: string, body?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const request = https.request(
        new URL(path, this.endpoint),
        { method, ca: this.ca, headers: body ? { 'content-type': 'application/json' } : {} },
        (response) => {
          let text = '';
          response.setEncoding('utf8').on('data', (chunk: string) => {
            text += chunk;
          });
          response.on('end', () =>
            (response.statusCode ?? 0) < 300
              ? resolve(text)
              : reject(new Error(`emulator ${method} ${path}: ${response.statusCode}`)),
          );
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  }
}

export function usageBetween(before: EmulatorStats, after: EmulatorStats): AcsUsage {
  const total = (stats: EmulatorStats) =>
    Object.values(stats.operations).reduce((sum, count) => sum + count, 0);
  return {
    calls: total(after) - total(before),
    identitiesCreated: (after.operations.createIdentity ?? 0) - (before.operations.createIdentity ?? 0),
  };
}
