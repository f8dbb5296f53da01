import { readFileSync } from 'node:fs';
import https from 'node:https';

export interface EmulatorStats {
  operations: Record<string, number>;
  identities: { active: number };
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
    await this.request('PUT', 'emulator/faults', JSON.stringify({ latencyMs }));
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
