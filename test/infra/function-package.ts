/**
 * The file list of a deployment package, computed the way the two deployment tools compute it. Neither tool runs
 * here, so their selection rules are reproduced:
 * - Core Tools (`func azure functionapp publish`): FileSystemHelpers.GetLocalFiles + GitIgnoreParser
 *   (azure-functions-core-tools, src/Azure.Functions.Cli/Common/). Its parser is NOT git's: patterns are anchored
 *   at the start of the path and match prefixes, `*` never crosses `/`, and any negated pattern wins. No npm
 *   package reproduces it (it is a C# port of an old codemix/gitignore-parser), so it is ported line for line.
 * - azd (`azd deploy`): applies .funcignore with git's rules; the `ignore` package implements them.
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

/** The files `func azure functionapp publish` zips from root (FileSystemHelpers.GetLocalFiles). */
export async function coreToolsPackageFiles(root: string) {
  const parser = coreToolsIgnoreParser(await readFuncignore(root));
  const files = await listFiles(root, CORE_TOOLS_SKIPPED_DIRECTORIES, CORE_TOOLS_SKIPPED_FILES);
  return files.filter((file) => parser.accepts(file));
}

/** The files azd packages from the service directory: everything .funcignore (git rules) does not exclude. */
export async function azdPackageFiles(root: string) {
  const rules = ignore().add(await readFuncignore(root));
  const files = await listFiles(root);
  return files.filter((file) => !rules.ignores(file));
}
