/**
 * `npm run infra:check`: compiles and lints the Bicep with the real Bicep CLI, warnings as errors.
 *
 * The CLI comes from NuGet (Azure.Bicep.CommandLine.linux-x64, pinned in infra/tools/bicep.csproj): `dotnet restore`
 * of that throwaway project puts the `bicep` executable in the NuGet package folder, and it runs from there. Both
 * steps work offline against the project's NuGet copy; `--no-restore` keeps the compiler from reaching a container
 * registry for `br:` modules or extensions, so anything that needs one fails here instead of at `azd up`.
 *
 * infra/bicepconfig.json puts every linter rule of Bicep 0.49 at "error"
 * (https://learn.microsoft.com/azure/azure-resource-manager/bicep/bicep-config-linter), and this check also fails on
 * any warning the compiler itself prints. One rule stays off, as by default: `what-if-short-circuiting` flags the
 * role assignments named guid(scope, principalId, role); renaming them would make every existing deployment fail
 * with RoleAssignmentExists on its next `azd provision`.
 */
import { execFile } from 'node:child_process';
import { access, chmod, constants, mkdtemp, readFile, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TOOL_PROJECT = path.join(REPO_ROOT, 'infra/tools/bicep.csproj');
/** azd provisions this file (azure.yaml: infra defaults); every module compiles as part of it. */
const ENTRY_POINT = 'infra/main.bicep';
const LINT_PATTERN = 'infra/**/*.bicep';

/** The pinned package and version, read from the tool project so there is one place to change them. */
async function pinnedPackage(): Promise<{ id: string; version: string }> {
  const project = await readFile(TOOL_PROJECT, 'utf8');
  const match = /<PackageDownload Include="([^"]+)" Version="\[([^\]]+)\]"/.exec(project);
  if (!match) throw new Error(`${TOOL_PROJECT} pins no PackageDownload`);
  return { id: match[1]!, version: match[2]! };
}

/** Restores the Bicep CLI if it is not in the NuGet package folder yet; returns the executable's path. */
export async function restoreBicep(): Promise<string> {
  const { id, version } = await pinnedPackage();
  const packages = process.env.NUGET_PACKAGES ?? path.join(homedir(), '.nuget', 'packages');
  const executable = path.join(packages, id.toLowerCase(), version, 'tools', 'bicep');
  const present = await access(executable).then(
    () => true,
    () => false,
  );
  if (!present) {
    await run('dotnet', ['restore', TOOL_PROJECT, '--nologo', '--verbosity', 'quiet'], {
      env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1' },
    });
  }
  // NuGet extracts files without the executable bit.
  await access(executable, constants.X_OK).catch(() => chmod(executable, 0o755));
  return executable;
}

export interface BicepCheck {
  /** The compiled ARM template of the entry point. */
  template: Record<string, unknown>;
  /** Every diagnostic line the compiler or the linter printed (warnings and errors alike). */
  diagnostics: string[];
}

/** Diagnostic lines: `<file>(line,col) : Error|Warning|Info <code>: <message>`. */
function diagnosticLines(output: string): string[] {
  return output.split('\n').filter((line) => /\) : (Error|Warning|Info) /.test(line));
}

async function runBicep(bicep: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout, stderr } = await run(bicep, args, { cwd, maxBuffer: 64 * 1024 * 1024 });
    return `${stdout}\n${stderr}`;
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    const output = `${failed.stdout ?? ''}\n${failed.stderr ?? ''}`;
    // A failing lint or build prints its diagnostics; anything else (no executable, a crash) is rethrown.
    if (diagnosticLines(output).length > 0) return output;
    throw error;
  }
}

/**
 * Builds the entry point and lints every Bicep file of the project at `root` (default: this repository). The build
 * runs the linter too (on the entry point and its modules); `lint: false` leaves out the separate lint pass over
 * every file, for checks that only need the compiler's verdict on one change.
 */
export async function checkBicep(root = REPO_ROOT, { lint = true } = {}): Promise<BicepCheck> {
  const bicep = await restoreBicep();
  const outDir = await mkdtemp(path.join(tmpdir(), 'bicep-'));
  try {
    const outfile = path.join(outDir, 'main.json');
    const build = await runBicep(bicep, ['build', ENTRY_POINT, '--no-restore', '--outfile', outfile], root);
    const linted = lint
      ? await runBicep(bicep, ['lint', '--pattern', LINT_PATTERN, '--no-restore'], root)
      : '';
    const diagnostics = [...diagnosticLines(build), ...diagnosticLines(linted)];
    const template = await readFile(outfile, 'utf8').then(
      (text) => JSON.parse(text) as Record<string, unknown>,
      () => ({}),
    );
    return { template, diagnostics: [...new Set(diagnostics)] };
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { diagnostics, template } = await checkBicep();
  for (const line of diagnostics) console.error(line);
  if (diagnostics.length > 0 || !('resources' in template)) {
    console.error(`infra:check: ${diagnostics.length} Bicep diagnostic(s); warnings count as errors.`);
    process.exit(1);
  }
  console.log(`infra:check: ${ENTRY_POINT} builds, ${LINT_PATTERN} lints clean.`);
}
