import { figure, formatTable, passMark, withRatio } from '../lib/report.js';
import type { BurstFigures, ScaleOutFigures } from './scale-out.js';

const faultsLabel = (faults: BurstFigures['faults']) =>
  faults === 'none' ? 'no faults' : `ACS answers ${faults} to 30% of calls`;

function burstTable(figures: ScaleOutFigures): string {
  return `Scale-out: new users' first six requests at once, two on each of ${figures.instances} instances (counted at the emulator; clients retry 503 answers under faults)\n${formatTable(
    [
      'faults',
      'users',
      'requests',
      'answered 200',
      'ACS faults',
      'client retries',
      'ACS creates',
      'creates/user',
      'ACS deletes',
      'identities added',
      'orphans',
      'users with one identity',
    ],
    figures.bursts.map((burst) => [
      faultsLabel(burst.faults),
      String(burst.users),
      String(burst.requests),
      String(burst.answered),
      String(burst.faultsInjected),
      String(burst.clientRetries),
      String(burst.creates),
      figure(burst.creates / burst.users, 2),
      String(burst.deletes),
      String(burst.identitiesAdded),
      String(burst.orphans),
      String(burst.usersWithOneIdentity),
    ]),
  )}`;
}

function deadTokenTable(figures: ScaleOutFigures): string {
  return `Scale-out: tokens handed out right after a revoke or delete answered on instance B, asked of A, B and C at once (introspected at the emulator)\n${formatTable(
    [
      'action on B',
      'users',
      'answered 204',
      'tokens asked after',
      'not 200',
      'dead tokens handed out',
      'earlier tokens still live',
    ],
    figures.deadTokens.map((row) => [
      row.action === 'revoke' ? 'POST /api/identity/revoke' : 'DELETE /api/identity',
      String(row.users),
      String(row.actionsAnswered),
      String(row.tokensAfter),
      String(row.notServed),
      String(row.inactive),
      String(row.earlierStillActive),
    ]),
  )}`;
}

function reuseTable(figures: ScaleOutFigures): string {
  const sample = figures.reuse[0];
  if (!sample) return '';
  const table = formatTable(
    [
      'token reuse',
      'connections',
      'answered',
      'ACS calls',
      'ACS calls/1k req',
      'reused answers',
      'p50 ms',
      'p95 ms',
      'reused answer p50 ms',
      'reused answer p95 ms',
    ],
    figures.reuse.map((row) => {
      const base =
        row.mode === 'shared'
          ? figures.reuse.find(
              (other) => other.mode === 'per-instance' && other.connections === row.connections,
            )
          : undefined;
      return [
        row.mode === 'shared' ? 'shared (default)' : 'per instance (shareReusableTokens: false)',
        String(row.connections),
        String(row.answered),
        String(row.acsCalls),
        withRatio(row.acsCallsPer1k, base?.acsCallsPer1k, 1),
        String(row.reusedAnswers),
        withRatio(row.p50, base?.p50, 1),
        withRatio(row.p95, base?.p95, 1),
        withRatio(row.reusedP50, base?.reusedP50, 1),
        withRatio(row.reusedP95, base?.reusedP95, 1),
      ];
    }),
  );
  return `Scale-out: ${sample.requests} known-user requests round-robin over ${figures.instances} instances, ${sample.users} users who each asked once before, ACS latency ${sample.acsLatencyMs} ms (1 connection: a request's own latency; ratios to reuse per instance at the same connections)\n${table}`;
}

function killTable(figures: ScaleOutFigures): string {
  const kill = figures.kill;
  return `Scale-out: a fourth instance SIGKILLed ${kill.killedAfterMs} ms into its new users' first requests (ACS latency ${kill.acsLatencyMs} ms; claim lease 3 s)\n${formatTable(
    [
      'users',
      'creates in flight at the kill',
      'answers undelivered',
      'orphans',
      'served 200 after',
      'same identity again',
      'next request p50 ms',
      'next request max ms',
    ],
    [
      [
        String(kill.users),
        String(kill.createsInFlight),
        String(kill.createsUndelivered),
        String(kill.orphans),
        String(kill.servedAfterKill),
        String(kill.sameIdentityAgain),
        figure(kill.nextRequestP50Ms),
        figure(kill.nextRequestMaxMs),
      ],
    ],
  )}`;
}

function targetsTable(figures: ScaleOutFigures): string {
  const rows: string[][] = [];
  const add = (target: string, measured: string, pass: boolean) =>
    rows.push([target, measured, passMark(pass)]);
  const plain = figures.bursts.find((burst) => burst.faults === 'none');
  if (plain) {
    const perUser = plain.creates / plain.users;
    add(
      'new users, six at once over three instances: creates/user <= 1.1',
      figure(perUser, 2),
      perUser <= 1.1,
    );
    add('no identity created only to be deleted', `${plain.deletes} deletes`, plain.deletes === 0);
  }
  for (const burst of figures.bursts)
    add(`orphans, ${faultsLabel(burst.faults)}: 0`, String(burst.orphans), burst.orphans === 0);
  for (const row of figures.deadTokens) {
    const dead = row.inactive + row.notServed + row.earlierStillActive;
    add(`after ${row.action}: no dead or earlier token served anywhere`, String(dead), dead === 0);
  }
  for (const shared of figures.reuse.filter((row) => row.mode === 'shared')) {
    add(
      `shared reuse, round-robin, ${shared.connections} connection(s): ACS calls/1k req <= 20`,
      figure(shared.acsCallsPer1k, 1),
      shared.acsCallsPer1k <= 20,
    );
  }
  const kill = figures.kill;
  add(
    'SIGKILL: every user served by the next request',
    `${kill.servedAfterKill}/${kill.users}`,
    kill.servedAfterKill === kill.users,
  );
  add(
    'SIGKILL: orphans <= creates in flight at the kill',
    `${kill.orphans} <= ${kill.createsInFlight}`,
    kill.orphans <= kill.createsInFlight,
  );
  return `Scale-out targets (issues 10 and 13; report only)\n${formatTable(['target', 'measured', 'result'], rows)}`;
}

/** The scale part's tables, in the order it measures them. */
export function scaleOutTables(figures: ScaleOutFigures): string {
  return [burstTable, deadTokenTable, reuseTable, killTable, targetsTable]
    .map((table) => table(figures))
    .join('\n\n');
}
