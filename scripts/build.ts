/**
 * Builds what Azure runs.
 *
 * - `npm run build` bundles src/index.ts into dist/index.cjs (+ linked source map): the only code the Function App
 *   loads, so that a cold start reads one file instead of resolving hundreds of modules in node_modules.
 * - `npm run build:function-app` does that and stages exactly the deployable package in dist/function-app/: the folder
 *   `azd` packages (azure.yaml), and one `func azure functionapp publish` can publish as it is.
 * - `npm run build:unbundled` transpiles src/**\/*.ts file by file into dist-unbundled/ (ESM, node_modules left
 *   external). It is never deployed: it exists so the cold-start benchmark can compare loading both.
 */

import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

/** The Functions Node.js worker injects this module at run time; it is not on npm, so it cannot be bundled. */
export const WORKER_PROVIDED_MODULES: readonly string[] = ['@azure/functions-core'];

/** Source trees that must never reach the deployed bundle (the emulator, the dev issuer, tests, benchmarks). */
export const NEVER_DEPLOYED_DIRS: readonly string[] = ['dev', 'test', 'bench', 'demo'];

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface BundleOptions {
  /** Project root: entry and outfile are relative to it. Default: this repository. */
  root?: string;
  entry?: string;
  outfile?: string;
}

export interface BundleResult {
  outfile: string;
  sourceMapFile: string;
  /** Every source file in the bundle, relative to root. */
  inputs: string[];
  /** Modules the bundle still requires at run time. */
  externalImports: string[];
  bytes: number;
  /** The on-demand bundles written beside it (ON_DEMAND_BUNDLES), each with its map. */
  onDemandFiles: string[];
}

export class BuildRejectedError extends Error {
  override readonly name = 'BuildRejectedError';
}

function isNodeBuiltin(specifier: string) {
  return builtinModules.includes(specifier.startsWith('node:') ? specifier.slice('node:'.length) : specifier);
}

/** True when `child` is `parent` or inside it. */
function isWithin(parent: string, child: string) {
  const relative = path.relative(parent, child);
  return !relative.startsWith('..') && !path.isAbsolute(relative);
}

function isUnder(root: string, dir: string, file: string) {
  const absolute = path.resolve(root, file);
  return absolute !== path.join(root, dir) && isWithin(path.join(root, dir), absolute);
}

/** Output directories are emptied before each build, so each must be a dedicated folder inside the project. */
function ownOutputDir(root: string, dir: string) {
  const sources = [...NEVER_DEPLOYED_DIRS, 'src'].map((source) => path.join(root, source));
  if (dir === root || !isWithin(root, dir) || sources.some((source) => isWithin(source, dir))) {
    throw new BuildRejectedError(
      `Refusing to empty ${dir}: the output must be its own folder inside ${root}`,
    );
  }
  return dir;
}

/**
 * Source files the bundle loads only on demand, each bundled into its own file beside it (the name on the right): a
 * cold start that never imports one neither reads nor compiles it. The telemetry SDKs run only when telemetry is
 * configured (src/tracing/start.ts), each only when it is the one configured, and they are larger than the service.
 */
export const ON_DEMAND_BUNDLES: Readonly<Record<string, string>> = {
  'src/tracing/otlp.ts': 'telemetry-otlp.cjs',
  'src/tracing/azure-monitor.ts': 'telemetry-azure-monitor.cjs',
};

/**
 * Bundles the Functions entry into one CommonJS file, plus one file per on-demand module it imports; refuses a bundle
 * that pulls in dev/test code or needs node_modules.
 */
export async function buildBundle(options: BundleOptions = {}): Promise<BundleResult> {
  const root = path.resolve(options.root ?? REPO_ROOT);
  const entry = options.entry ?? 'src/index.ts';
  const outfile = path.resolve(root, options.outfile ?? 'dist/index.cjs');
  const outdir = path.dirname(outfile);

  // A stale file left in the output directory would be packaged and deployed.
  await rm(ownOutputDir(root, outdir), { recursive: true, force: true });

  const onDemand = new Map<string, string>();
  const main = await bundleOne(root, entry, outfile, {
    name: 'on-demand bundles',
    setup(build) {
      build.onResolve({ filter: /^\./ }, (args) => {
        const source = path
          .relative(root, path.resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts')))
          .split(path.sep)
          .join('/');
        const file = ON_DEMAND_BUNDLES[source];
        if (!file || args.kind !== 'dynamic-import') return undefined;
        onDemand.set(source, file);
        return { path: `./${file}`, external: true };
      });
    },
  });
  const extra = await Promise.all(
    [...onDemand].map(([source, file]) => bundleOne(root, source, path.join(outdir, file))),
  );
  return {
    ...main,
    inputs: [...new Set([...main.inputs, ...extra.flatMap((bundle) => bundle.inputs)])],
    onDemandFiles: extra.map((bundle) => bundle.outfile),
  };
}

async function bundleOne(
  root: string,
  entry: string,
  outfile: string,
  plugin?: esbuild.Plugin,
): Promise<Omit<BundleResult, 'onDemandFiles'>> {
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    // Whitespace only: identifiers stay readable in stack traces even without the source map.
    minifyWhitespace: true,
    // Linked: the map sits beside the bundle and Node (--enable-source-maps) maps stack traces back to src/.
    sourcemap: 'linked',
    external: [...WORKER_PROVIDED_MODULES],
    plugins: plugin ? [plugin] : [],
    metafile: true,
    logLevel: 'silent',
  });
  for (const warning of result.warnings) {
    console.warn(`esbuild: ${warning.text}${warning.location ? ` (${warning.location.file})` : ''}`);
  }

  const inputs = Object.keys(result.metafile.inputs);
  const leaked = inputs.filter((input) => NEVER_DEPLOYED_DIRS.some((dir) => isUnder(root, dir, input)));
  if (leaked.length > 0) {
    await rm(path.dirname(outfile), { recursive: true, force: true });
    throw new BuildRejectedError(
      `The bundle must not include code from ${NEVER_DEPLOYED_DIRS.join('/, ')}/, but it imports: ${leaked.join(', ')}`,
    );
  }

  const output = Object.entries(result.metafile.outputs).find(
    ([file]) => path.resolve(root, file) === outfile,
  );
  const onDemandFiles = Object.values(ON_DEMAND_BUNDLES).map((file) => `./${file}`);
  const externalImports = [
    ...new Set(
      (output?.[1].imports ?? [])
        // `require.resolve` only asks where a module is, and loads nothing: the Azure Monitor distro asks for
        // @opentelemetry/instrumentation that way, inside a try/catch, to count its instrumentations in its own
        // usage statistics (utils/opentelemetryInstrumentationPatcher.js); without node_modules it skips that.
        .filter((imported) => imported.external && imported.kind !== 'require-resolve')
        .map((imported) => imported.path),
    ),
  ].sort();
  const unexpected = externalImports.filter(
    (specifier) =>
      !isNodeBuiltin(specifier) &&
      !WORKER_PROVIDED_MODULES.includes(specifier) &&
      !onDemandFiles.includes(specifier),
  );
  if (unexpected.length > 0) {
    await rm(path.dirname(outfile), { recursive: true, force: true });
    throw new BuildRejectedError(
      `The bundle would need node_modules at run time for: ${unexpected.join(', ')} (only Node built-ins and ${WORKER_PROVIDED_MODULES.join(', ')} may stay external)`,
    );
  }

  return {
    outfile,
    sourceMapFile: `${outfile}.map`,
    inputs,
    externalImports,
    bytes: (await stat(outfile)).size,
  };
}

/** Where the deployable package is staged, relative to the project root (inside dist/, so git ignores it). */
export const FUNCTION_APP_DIR = 'dist/function-app';

export interface StagedFunctionApp {
  dir: string;
  /** Every file in the folder, relative to it, sorted. */
  files: string[];
  bundle: BundleResult;
}

/**
 * Builds the bundle and stages what the Function App runs, and nothing else: host.json, a package.json whose `main`
 * is the bundle and which has no dependencies, its lock file, and the bundle with its map.
 *
 * azd packages this folder (azure.yaml `project`). With `remoteBuild: false` and no .funcignore here, azd uploads it
 * as it is (Azure/azure-dev, cli/azd/pkg/project/service_target_functionapp.go, resolveFunctionAppRemoteBuild). azd
 * first runs `npm install` in it: with no dependencies that changes nothing, because the lock file is already here.
 */
export async function stageFunctionApp(options: { root?: string } = {}): Promise<StagedFunctionApp> {
  const root = path.resolve(options.root ?? REPO_ROOT);
  const bundle = await buildBundle({ root });
  const dir = ownOutputDir(root, path.join(root, FUNCTION_APP_DIR));
  await rm(dir, { recursive: true, force: true });
  await mkdir(path.join(dir, 'dist'), { recursive: true });

  const project = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
  };
  const manifest = { name: project.name, version: project.version, private: true, main: 'dist/index.cjs' };
  const lock = {
    name: project.name,
    version: project.version,
    lockfileVersion: 3,
    requires: true,
    packages: { '': { name: project.name, version: project.version } },
  };
  await writeFile(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(path.join(dir, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
  await copyFile(path.join(root, 'host.json'), path.join(dir, 'host.json'));
  await copyFile(bundle.outfile, path.join(dir, 'dist/index.cjs'));
  await copyFile(bundle.sourceMapFile, path.join(dir, 'dist/index.cjs.map'));
  for (const file of bundle.onDemandFiles) {
    for (const copied of [file, `${file}.map`])
      await copyFile(copied, path.join(dir, 'dist', path.basename(copied)));
  }

  const files = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .sort();
  return { dir, files, bundle };
}

export interface UnbundledOptions {
  root?: string;
  sourceDir?: string;
  outdir?: string;
}

/** Transpiles each src/ file on its own (no bundling): the baseline the cold-start benchmark compares against. */
export async function buildUnbundled(
  options: UnbundledOptions = {},
): Promise<{ outdir: string; files: number }> {
  const root = path.resolve(options.root ?? REPO_ROOT);
  const sourceDir = path.resolve(root, options.sourceDir ?? 'src');
  const outdir = ownOutputDir(root, path.resolve(root, options.outdir ?? 'dist-unbundled'));

  const entryPoints = (await readdir(sourceDir, { recursive: true }))
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => path.join(sourceDir, file));

  await rm(outdir, { recursive: true, force: true });
  await esbuild.build({
    absWorkingDir: root,
    entryPoints,
    outdir,
    outbase: sourceDir,
    bundle: false,
    platform: 'node',
    // The engines floor and the deployed runtime; esbuild keeps the import attributes (`with { type: 'json' }`) that
    // native ESM needs to load JSON.
    target: 'node22',
    format: 'esm',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  return { outdir, files: entryPoints.length };
}

async function main(args: readonly string[]) {
  if (args.includes('--unbundled')) {
    const { outdir, files } = await buildUnbundled();
    console.log(`Transpiled ${files} files into ${path.relative(process.cwd(), outdir)}/ (not deployed).`);
    return;
  }
  if (args.includes('--function-app')) {
    const staged = await stageFunctionApp();
    console.log(
      `Staged the Function App package in ${path.relative(process.cwd(), staged.dir)}/: ${staged.files.join(', ')}`,
    );
    return;
  }
  const bundle = await buildBundle();
  const fromOutsideNode = bundle.externalImports.filter((specifier) => !isNodeBuiltin(specifier));
  console.log(
    `Bundled ${bundle.inputs.length} modules into ${path.relative(process.cwd(), bundle.outfile)} ` +
      `(${(bundle.bytes / 1024).toFixed(0)} KiB, source map beside it); needs at run time, besides Node built-ins: ` +
      `${fromOutsideNode.join(', ') || 'nothing'}` +
      (bundle.onDemandFiles.length > 0
        ? `; written beside it, loaded on demand: ${bundle.onDemandFiles.map((file) => path.relative(process.cwd(), file)).join(', ')}`
        : ''),
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
