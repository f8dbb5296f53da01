/**
 * Every azd hook fails loudly, on every shell. azd writes an inline hook to a script file and runs it
 * (Azure/azure-dev cli/azd/pkg/ext/hooks_runner.go: GetScript/execHook; a non-zero exit fails the command unless
 * continueOnError), with `sh <file>` (cli/azd/pkg/tools/bash) or `pwsh <file>` (cli/azd/pkg/tools/powershell/
 * powershell.go: NewRunArgs(options.UserPwsh, path)). `sh` ends with the status of the failing command of an `&&`
 * chain. `pwsh` running a file exits 0 on normal termination whatever a native command returned (PowerShell
 * about_Pwsh, -File: only an `exit` statement sets the process's exit code), so a windows hook must check
 * $LASTEXITCODE after each native command and end with `exit $LASTEXITCODE`. The sh hooks run here for real against
 * stand-in `npm`/`npx` commands; pwsh is not installed, so the windows hooks are checked as text.
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface Hook {
  name: string;
  shell: 'sh' | 'pwsh';
  run: string;
}

/** The hooks of azure.yaml: `<name>:` then `posix:`/`windows:` blocks with `shell:` and a one-line `run:`. */
function hooksOf(yaml: string): Hook[] {
  const hooks: Hook[] = [];
  let name = '';
  let shell: Hook['shell'] | undefined;
  for (const line of yaml.split('\n')) {
    const hookName = /^ {2}(\w+):/.exec(line);
    if (hookName) name = hookName[1]!;
    const shellLine = /^ {6}shell: (sh|pwsh)$/.exec(line);
    if (shellLine) shell = shellLine[1] as Hook['shell'];
    const run = /^ {6}run: (.+)$/.exec(line);
    if (run && shell) hooks.push({ name, shell, run: run[1]! });
  }
  return hooks;
}

const NATIVE_CHECK = 'if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }';

/** Why a one-line pwsh hook could exit 0 after a failed native command, or undefined when it cannot. */
function pwshProblem(run: string): string | undefined {
  const statements = run.split(';').map((statement) => statement.trim());
  if (statements.at(-1) !== 'exit $LASTEXITCODE') return 'does not end with `exit $LASTEXITCODE`';
  for (let i = 0; i < statements.length - 1; i++) {
    const native = !statements[i]!.startsWith('if ') && !statements[i]!.startsWith('exit');
    if (native && statements[i + 1] !== NATIVE_CHECK && i + 1 !== statements.length - 1)
      return `does not check $LASTEXITCODE after \`${statements[i]}\``;
  }
  return undefined;
}

let hooks: Hook[];
let bin: string;

beforeAll(async () => {
  hooks = hooksOf(await readFile(path.resolve('azure.yaml'), 'utf8'));
  bin = await mkdtemp(path.join(tmpdir(), 'azd-hook-bin-'));
});
afterAll(async () => {
  await rm(bin, { recursive: true, force: true });
});

/** Stand-in `npm` and `npx`: each exits with the code named for how its arguments start, else 0. */
async function standIns(failures: Record<string, number>) {
  for (const command of ['npm', 'npx']) {
    const cases = Object.entries(failures)
      .filter(([key]) => key.startsWith(`${command} `))
      .map(([key, code]) => `  "${key.slice(command.length + 1)}"*) exit ${code} ;;`)
      .join('\n');
    await writeFile(path.join(bin, command), `#!/bin/sh\ncase "$1 $2" in\n${cases}\nesac\nexit 0\n`);
    await chmod(path.join(bin, command), 0o755);
  }
}

function runSh(run: string) {
  return spawnSync('sh', ['-c', run], { env: { ...process.env, PATH: `${bin}:/usr/bin:/bin` } }).status;
}

describe('azd hooks fail loudly', () => {
  it('has a posix and a windows script for each hook', () => {
    const names = [...new Set(hooks.map((hook) => hook.name))];
    expect(names).toEqual(expect.arrayContaining(['preprovision', 'prepackage']));
    for (const name of names) {
      expect(
        hooks
          .filter((hook) => hook.name === name)
          .map((hook) => hook.shell)
          .sort(),
        name,
      ).toEqual(['pwsh', 'sh']);
    }
  });

  it('sh: exits non-zero when npm install fails, when the next step fails, and 0 when all pass', async () => {
    for (const hook of hooks.filter((candidate) => candidate.shell === 'sh')) {
      await standIns({ 'npm install': 7 });
      expect(runSh(hook.run), `${hook.name}: npm install fails`).toBe(7);
      await standIns({ 'npm run': 5, 'npx tsx': 5 });
      expect(runSh(hook.run), `${hook.name}: the second step fails`).toBe(5);
      await standIns({});
      expect(runSh(hook.run), `${hook.name}: all pass`).toBe(0);
    }
  });

  it('pwsh: checks $LASTEXITCODE after every native command and exits with it', () => {
    const windows = hooks.filter((hook) => hook.shell === 'pwsh');
    expect(windows.length).toBeGreaterThanOrEqual(2);
    for (const hook of windows) expect(pwshProblem(hook.run), hook.name).toBeUndefined();
  });

  it('would catch the hook that let azd zip a stale package', () => {
    expect(
      pwshProblem(
        'npm install --no-audit --no-fund; if ($LASTEXITCODE -eq 0) { npm run build:function-app }',
      ),
    ).toMatch(/does not end with/);
    expect(pwshProblem('npm install; npm run build:function-app; exit $LASTEXITCODE')).toMatch(
      /does not check \$LASTEXITCODE after `npm install`/,
    );
  });
});
