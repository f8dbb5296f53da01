import { type OtlpReceiver, startOtlpReceiver } from '../../dev/otlp-receiver.js';
import { buildEntries, type ColdStartFigures, measureTelemetryColdStart } from '../cold-start.js';
import { formatTable, withRatio } from '../lib/report.js';
import { type BenchContext, type ScenarioResult, serverEnvironment, serviceSettings } from './context.js';
import { runKnownUsers } from './known-users.js';

type ColdFigures = Omit<ColdStartFigures, 'variant'>;

export interface TelemetryCost {
  /** Scenario b (known users, one ACS call each) at ACS latency 0, alternately off and on. */
  load: { off: ScenarioResult[]; on: ScenarioResult[] };
  cold: { off: ColdFigures; on: ColdFigures };
  /** Spans the collector received while telemetry was on: proof that it was. */
  spansReceived: number;
}

/** Load rounds per setting, alternated (off, on, off, on) so drift on the machine hits both alike. */
const LOAD_ROUNDS = 2;

/** The settings that turn telemetry on: OTLP/HTTP JSON to a collector in this process. */
function telemetryEnv(receiver: OtlpReceiver): Record<string, string> {
  return { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' };
}

/**
 * What OpenTelemetry costs the service, measured in this one session: CPU per request and throughput under load,
 * and the cold start of the bundled entry (load and first request), each with telemetry off and on.
 */
export async function measureTelemetryCost(
  ctx: BenchContext,
  coldStartRuns: number,
  authorizationFor: (run: number) => Promise<string>,
): Promise<TelemetryCost> {
  const receiver = await startOtlpReceiver();
  try {
    await ctx.acs.setLatency(0);
    const load: TelemetryCost['load'] = { off: [], on: [] };
    for (let round = 0; round < LOAD_ROUNDS; round++) {
      load.off.push(await runKnownUsers(ctx, 0, false));
      load.on.push(await runKnownUsers({ ...ctx, serviceEnv: telemetryEnv(receiver) }, 0, false));
    }
    await buildEntries();
    const cold = await measureTelemetryColdStart({
      runs: coldStartRuns,
      env: { ...serverEnvironment(ctx), ...serviceSettings(ctx, true) },
      telemetryEnv: telemetryEnv(receiver),
      authorizationFor,
    });
    return { load, cold, spansReceived: receiver.spans.length };
  } finally {
    await receiver.close();
  }
}

const mean = (values: readonly number[]) => values.reduce((total, value) => total + value, 0) / values.length;

export function telemetryCostTable(cost: TelemetryCost, coldStartRuns: number): string {
  const loadRow = (label: string, results: readonly ScenarioResult[], base?: readonly ScenarioResult[]) => [
    label,
    withRatio(
      mean(results.map((result) => result.serverCpuMsPerRequest)),
      base && mean(base.map((result) => result.serverCpuMsPerRequest)),
      3,
    ),
    withRatio(
      mean(results.map((result) => result.load.requestsPerSecond)),
      base && mean(base.map((result) => result.load.requestsPerSecond)),
    ),
    withRatio(
      mean(results.map((result) => result.load.p50)),
      base && mean(base.map((result) => result.load.p50)),
      1,
    ),
  ];
  const coldRow = (label: string, figures: ColdFigures, base?: ColdFigures) => [
    label,
    withRatio(figures.loadMs, base?.loadMs, 1),
    withRatio(figures.firstRequestMs, base?.firstRequestMs, 1),
    withRatio(figures.sinceProcessStartMs, base?.sinceProcessStartMs, 1),
  ];
  const { load, cold } = cost;
  return [
    `Telemetry cost, scenario b at ACS latency 0 (mean of ${LOAD_ROUNDS} alternated runs each; ratio on/off; ` +
      `${cost.spansReceived} spans received while on)`,
    formatTable(
      ['telemetry', 'server CPU ms/req', 'req/s', 'p50 ms'],
      [loadRow('off (nothing configured)', load.off), loadRow('on (OTLP/HTTP JSON)', load.on, load.off)],
    ),
    '',
    `Telemetry cold start, bundled entry (median of ${coldStartRuns} fresh processes each; ratio on/off)`,
    formatTable(
      ['telemetry', 'load ms', 'first request ms', 'process start to first answer ms'],
      [coldRow('off (nothing configured)', cold.off), coldRow('on (OTLP/HTTP JSON)', cold.on, cold.off)],
    ),
  ].join('\n');
}
