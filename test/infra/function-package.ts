/**
 * The file list of a deployment package, computed the way the two deployment tools compute it. Neither tool runs
 * here, so their selection rules are reproduced:
 * - Core Tools (`func azure functionapp publish`): FileSystemHelpers.GetLocalFiles + GitIgnoreParser
 *   (azure-functions-core-tools, src/Azure.Functions.Cli/Common/). Its parser is NOT git's: patterns are anchored
 *   at the start of the path and match prefixes, `*` never crosses `/`, and any negated pattern wins. No npm
 *   package reproduces it (it is a C# port of an old codemix/gitignore-parser), so it is ported line for line.
 * - azd (`azd package`/`azd deploy`): zips the service's folder, applying the .funcignore found there with git's
 *   rules (the `ignore` package implements them), and decides remote build for Flex Consumption from that same file
 *   (Azure/azure-dev, cli/azd/pkg/project/project_utils.go createDeployableZip and
 *   service_target_functionapp.go resolveFunctionAppRemoteBuild).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import ignore from 'ignore';

const CORE_TOOLS_SKIPPED_DIRECTORIES = ['.git', '.vscode'];
const CORE_TOOLS_SKIPPED_FILES = ['.funcignore', '.gitignore', 'local.settings.json', 'project.lock.json'];

/** GitIgnoreParser.PrepareRegexPattern. */
function coreToolsPattern(pattern: string) {
  return pattern
    .replace(/[-[\]/{}()+?.\\^$|]/g, '\\$&')
    .replaceAll('**', '(.+)')
    .replaceAll('*', '([^\\/]+)');
}

function anchoredAlternation(patterns: readonly string[]) {
  return patterns.length > 0 ? new RegExp(`^((${patterns.map(coreToolsPattern).join(')|(')}))`) : /$^/;
}

/** What the deployed package holds: the bundle, the telemetry bundles loaded on demand, their maps, host.json, package.json. */
export const FUNCTION_PACKAGE_FILES = [
  'dist/index.cjs',
  'dist/index.cjs.map',
  'dist/telemetry-azure-monitor.cjs',
  'dist/telemetry-azure-monitor.cjs.map',
  'dist/telemetry-otlp.cjs',
  'dist/telemetry-otlp.cjs.map',
  'host.json',
  'package.json',
];

/** GitIgnoreParser: `accepts(relativePath)` is true when Core Tools would upload the file. */
export function coreToolsIgnoreParser(funcignore: string) {
  const positive: string[] = [];
  const negative: string[] = [];
  for (const rawLine of funcignore.split('\n')) {
    let line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const isNegative = line.startsWith('!');
    if (isNegative) line = line.slice(1);
    if (line.startsWith('/')) line = line.slice(1);
    (isNegative ? negative : positive).push(line);
  }
  const positiveRegex = anchoredAlternation(positive.sort());
  const negativeRegex = anchoredAlternation(negative.sort());
  return {
    accepts(relativePath: string) {
      const input = relativePath === '/' ? '' : relativePath;
      return negativeRegex.test(input) || !positiveRegex.test(input);
    },
  };
}

/** Every file under root, as forward-slash relative paths, skipping the named directories and files. */
async function listFiles(
  root: string,
  skippedDirectories: readonly string[] = [],
  skippedFiles: readonly string[] = [],
) {
  const lower = (names: readonly string[]) => new Set(names.map((name) => name.toLowerCase()));
  const dirs = lower(skippedDirectories);
  const files = lower(skippedFiles);
  const found: string[] = [];
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!dirs.has(entry.name.toLowerCase())) await walk(full);
      } else if (!files.has(entry.name.toLowerCase())) {
        found.push(path.relative(root, full).split(path.sep).join('/'));
      }
    }
  };
  await walk(root);
  return found.sort();
}

async function readFuncignore(root: string) {
  return readFile(path.join(root, '.funcignore'), 'utf8');
}

async function readFuncignoreIfAny(root: string): Promise<string | undefined> {
  try {
    return await readFuncignore(root);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The files `func azure functionapp publish` zips from root (FileSystemHelpers.GetLocalFiles). */
export async function coreToolsPackageFiles(root: string) {
  const parser = coreToolsIgnoreParser(await readFuncignore(root));
  const files = await listFiles(root, CORE_TOOLS_SKIPPED_DIRECTORIES, CORE_TOOLS_SKIPPED_FILES);
  return files.filter((file) => parser.accepts(file));
}

export interface AzdFunctionService {
  language: string;
  /** azure.yaml `remoteBuild`; undefined when the key is absent. */
  remoteBuild: boolean | undefined;
}

/**
 * resolveFunctionAppRemoteBuild (azd 1.23.12 and later) for a Flex Consumption app: for js/ts it reads the service
 * folder's .funcignore and asks whether `node_modules` (a directory) is ignored. Unset remoteBuild follows that
 * answer; an explicit value that contradicts it is an error, with azd's own message.
 */
export function azdRemoteBuild(service: AzdFunctionService, funcignore: string | undefined): boolean {
  if (service.language !== 'js' && service.language !== 'ts') return service.remoteBuild ?? false;
  if (funcignore === undefined) return service.remoteBuild ?? true;
  const nodeModulesExcluded = ignore()
    .add(funcignore.replace(/^\uFEFF/, ''))
    .ignores('node_modules/');
  if (service.remoteBuild === undefined) return nodeModulesExcluded;
  if (service.remoteBuild && !nodeModulesExcluded) {
    throw new Error("'remoteBuild: true' requires '.funcignore' to exclude node_modules");
  }
  if (!service.remoteBuild && nodeModulesExcluded) {
    throw new Error("'remoteBuild: false' cannot be used when '.funcignore' excludes node_modules");
  }
  return service.remoteBuild;
}

/** azd's remote-build decision for the service folder `root`, reading the .funcignore there if there is one. */
export async function azdRemoteBuildFor(root: string, service: AzdFunctionService): Promise<boolean> {
  return azdRemoteBuild(service, await readFuncignoreIfAny(root));
}

/**
 * The files azd zips from the service folder (createDeployableZip): never .azure/, the .funcignore itself or
 * local.settings.json; then the folder's .funcignore with git's rules, or without one, node_modules unless
 * `remoteBuild: false`.
 */
export async function azdPackageFiles(
  root: string,
  service: AzdFunctionService = { language: 'ts', remoteBuild: false },
) {
  const funcignore = await readFuncignoreIfAny(root);
  const rules = funcignore === undefined ? undefined : ignore().add(funcignore);
  const keepNodeModules = service.remoteBuild === false;
  const files = await listFiles(root, ['.azure'], ['.funcignore', 'local.settings.json']);
  return files.filter((file) => {
    if (rules) return !rules.ignores(file);
    return keepNodeModules || !file.split('/').includes('node_modules');
  });
}
