import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { FUNCTION_APP_DIR, NEVER_DEPLOYED_DIRS, stageFunctionApp } from '../../scripts/build.js';
import {
  azdPackageFiles,
  coreToolsIgnoreParser,
  coreToolsPackageFiles,
  FUNCTION_PACKAGE_FILES,
} from './function-package.js';

const run = promisify(execFile);
const PACKAGE = FUNCTION_PACKAGE_FILES;

const temporary: string[] = [];
afterAll(async () => {
  await Promise.all(temporary.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(prefix: string) {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  temporary.push(dir);
  return dir;
}

describe('.funcignore', () => {
  it('keeps only host.json, package.json and the bundle when Core Tools publishes from the root', async () => {
    const root = await tempDir('funcignore-');
    const tree = [
      ...PACKAGE,
      'dist/leftover.js',
      'dist/function-app/host.json',
      'dist/function-app/dist/index.cjs',
      'dist-unbundled/index.js',
      'src/index.ts',
      'src/settings.ts',
      'dev/start.ts',
      'dev/emulator/server.ts',
      'test/infra/no-secrets.test.ts',
      'bench/run.ts',
      'demo/index.html',
      'docs/deploy.md',
      'infra/main.bicep',
      'scripts/build.ts',
      'node_modules/zod/package.json',
      'node_modules/@azure/functions/dist/azure-functions.js',
      '.artifacts/test-tls/ca.pem',
      '.azure/dev/.env',
      '.github/workflows/ci.yml',
      '.git/config',
      '.vscode/settings.json',
      'local.settings.json',
      'local.settings.sample.json',
      'README.md',
      'CHANGELOG.md',
      'azure.yaml',
      'biome.json',
      'tsconfig.json',
      'vitest.config.ts',
      'package-lock.json',
    ];
    for (const file of tree) {
      await mkdir(path.dirname(path.join(root, file)), { recursive: true });
      await writeFile(path.join(root, file), '');
    }
    await copyFile(path.resolve('.funcignore'), path.join(root, '.funcignore'));
    // Core Tools matches prefixes: `!/dist/index.cjs` keeps the map too, and nothing else under dist/ (not the
    // staged package azd uses, not a stale file).
    expect(await coreToolsPackageFiles(root)).toEqual(PACKAGE);
  });

  it("is read with Core Tools' own rules (prefix match, `*` within one segment, negations win)", () => {
    const parser = coreToolsIgnoreParser('node_modules\n*.ts\n!src/keep.ts\n# comment\n/docs\n');
    expect(parser.accepts('node_modules/zod/index.js')).toBe(false);
    expect(parser.accepts('node_modules_backup/x.js')).toBe(false);
    expect(parser.accepts('index.ts')).toBe(false);
    expect(parser.accepts('src/index.ts')).toBe(true);
    expect(parser.accepts('src/keep.ts')).toBe(true);
    expect(parser.accepts('docs/deploy.md')).toBe(false);
    expect(parser.accepts('host.json')).toBe(true);
  });
});

describe('the packaged app of this repository', () => {
  it('is exactly what the host needs, built from src/ alone, and loads without node_modules', async () => {
    const staged = await stageFunctionApp();
    const bundle = staged.bundle;
    const root = path.resolve('.');

    const fromNeverDeployedDirs = bundle.inputs.filter((input) =>
      NEVER_DEPLOYED_DIRS.some((dir) => input.startsWith(`${dir}/`)),
    );
    expect(fromNeverDeployedDirs).toEqual([]);
    expect(bundle.inputs).toContain('src/index.ts');

    const bundleText = await readFile(bundle.outfile, 'utf8');
    const required = [
      ...new Set(
        [...bundleText.matchAll(/\b(?:require|import)\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]!),
      ),
    ];
    const notBuiltin = required.filter((name) => !builtinModules.includes(name.replace(/^node:/, '')));
    // The telemetry SDKs, beside the bundle, required only when telemetry is configured (src/tracing/start.ts).
    expect(notBuiltin.sort()).toEqual([
      './telemetry-azure-monitor.cjs',
      './telemetry-otlp.cjs',
      '@azure/functions-core',
    ]);

    const manifest = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { main: string };
    expect(manifest.main).toBe('dist/index.cjs');

    // `func azure functionapp publish` from the root, and azd from the staged folder, upload the same app.
    expect(await coreToolsPackageFiles(root)).toEqual(PACKAGE);
    expect(staged.dir).toBe(path.join(root, FUNCTION_APP_DIR));
    expect(await azdPackageFiles(staged.dir)).toEqual([...PACKAGE, 'package-lock.json'].sort());
    const stagedManifest = JSON.parse(await readFile(path.join(staged.dir, 'package.json'), 'utf8'));
    expect(stagedManifest).toEqual({
      name: 'acs-trusted-token-service',
      version: expect.any(String),
      private: true,
      main: 'dist/index.cjs',
    });
    for (const file of ['host.json', 'dist/index.cjs', 'dist/index.cjs.map']) {
      expect(await readFile(path.join(staged.dir, file), 'utf8'), file).toBe(
        await readFile(path.join(root, file), 'utf8'),
      );
    }

    // What the Function App gets: the staged folder, no node_modules. Loading the entry must succeed; outside the
    // host the library switches to test mode, which shows the entry and @azure/functions inside it really ran.
    const deployed = await tempDir('deployed-app-');
    for (const file of staged.files) {
      await mkdir(path.dirname(path.join(deployed, file)), { recursive: true });
      await copyFile(path.join(staged.dir, file), path.join(deployed, file));
    }
    const { stderr } = await run(
      process.execPath,
      ['-e', `require(${JSON.stringify(`./${stagedManifest.main}`)})`],
      {
        cwd: deployed,
        env: { PATH: process.env.PATH ?? '' },
      },
    );
    expect(stderr).toContain('Failed to detect the Azure Functions runtime');
    expect(stderr).not.toMatch(/Cannot find module/);

    // With telemetry configured, the on-demand part loads from the package too: the OTLP set-up, and the Azure
    // Monitor distro with the Functions instrumentation (an unreachable ingestion endpoint: nothing is sent here).
    for (const env of [
      { OTEL_TRACES_EXPORTER: 'console' },
      {
        APPLICATIONINSIGHTS_CONNECTION_STRING:
          'InstrumentationKey=00000000-0000-4000-8000-000000000000;IngestionEndpoint=https://127.0.0.1:9/',
      },
    ]) {
      const telemetryOn = await run(
        process.execPath,
        ['-e', `require(${JSON.stringify(`./${stagedManifest.main}`)})`],
        { cwd: deployed, env: { PATH: process.env.PATH ?? '', ...env } },
      );
      expect(telemetryOn.stdout, telemetryOn.stderr).toContain('"event":"telemetry_started"');
      expect(telemetryOn.stderr).not.toMatch(/Cannot find module/);
    }
  });
});
