import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BuildRejectedError, buildBundle, buildUnbundled } from '../../scripts/build.js';

const run = promisify(execFile);
const repoNodeModules = path.resolve('node_modules');

/** A tiny Functions project shaped like this repository (src/, dev/, test/), outside it, sharing its node_modules. */
async function createProject(files: Record<string, string>) {
  const root = await mkdtemp(path.join(tmpdir(), 'build-test-'));
  await symlink(repoNodeModules, path.join(root, 'node_modules'), 'dir');
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), text);
  }
  return root;
}

const functionsApp = {
  'src/index.ts': [
    "import { app } from '@azure/functions';",
    "import { z } from 'zod';",
    "import { greet } from './lib/greeting.js';",
    '',
    "const name = z.string().parse('world');",
    "app.http('hello', { methods: ['GET'], authLevel: 'anonymous', handler: async () => ({ body: greet(name) }) });",
    "export { fail } from './lib/greeting.js';",
    '',
  ].join('\n'),
  'src/lib/greeting.ts': [
    'export function greet(name: string) {',
    "  return 'hello ' + name;",
    '}',
    '',
    'export function fail(): never {',
    "  throw new Error('deliberate failure');",
    '}',
    '',
  ].join('\n'),
};

const projects: string[] = [];
afterAll(async () => {
  await Promise.all(projects.map((root) => rm(root, { recursive: true, force: true })));
});

async function project(files: Record<string, string>) {
  const root = await createProject(files);
  projects.push(root);
  return root;
}

function requiredModules(bundle: string) {
  return [...new Set([...bundle.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)].map((match) => match[1]!))];
}

const isBuiltin = (name: string) => builtinModules.includes(name.replace(/^node:/, ''));

describe('buildBundle', () => {
  let root: string;
  let bundle: string;

  beforeAll(async () => {
    root = await project(functionsApp);
    await buildBundle({ root });
    bundle = await readFile(path.join(root, 'dist/index.cjs'), 'utf8');
  });

  it('writes one CommonJS file and its linked source map, nothing else', async () => {
    expect((await readdir(path.join(root, 'dist'))).sort()).toEqual(['index.cjs', 'index.cjs.map']);
    expect(bundle.trimEnd().endsWith('//# sourceMappingURL=index.cjs.map')).toBe(true);
    expect(bundle).not.toMatch(/^\s*(import|export)\s/m);
    const map = JSON.parse(await readFile(path.join(root, 'dist/index.cjs.map'), 'utf8')) as {
      sources: string[];
    };
    expect(map.sources).toEqual(expect.arrayContaining(['../src/index.ts', '../src/lib/greeting.ts']));
  });

  it('requires only Node built-ins and the worker-provided @azure/functions-core at run time', () => {
    const required = requiredModules(bundle);
    expect(required).toContain('@azure/functions-core');
    expect(required.filter((name) => !isBuiltin(name) && name !== '@azure/functions-core')).toEqual([]);
  });

  it('loads from a directory without node_modules, as the Function App does', async () => {
    const packageDir = await mkdtemp(path.join(tmpdir(), 'build-test-package-'));
    projects.push(packageDir);
    await cp(path.join(root, 'dist'), path.join(packageDir, 'dist'), { recursive: true });
    const { stdout, stderr } = await run(
      process.execPath,
      ['-e', "const m = require('./dist/index.cjs'); console.log(typeof m.fail)"],
      { cwd: packageDir },
    );
    expect(stdout.trim()).toBe('function');
    // Outside the Functions host the library switches to test mode: proof that it was loaded from the bundle.
    expect(stderr).toContain('Failed to detect the Azure Functions runtime');
  });

  it('maps stack traces back to the TypeScript source through the linked map', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        '--enable-source-maps',
        '-e',
        "try { require('./dist/index.cjs').fail() } catch (e) { console.log(e.stack) }",
      ],
      { cwd: root },
    );
    expect(stdout).toContain('deliberate failure');
    expect(stdout).toMatch(/src[\\/]lib[\\/]greeting\.ts:6:\d+/);
  });

  it('refuses a bundle that imports from dev/', async () => {
    const leaky = await project({
      ...functionsApp,
      'src/index.ts': `${functionsApp['src/index.ts']}import { helper } from '../dev/helper.js';\nconsole.log(helper);\n`,
      'dev/helper.ts': "export const helper = 'only for local runs';\n",
    });
    await expect(buildBundle({ root: leaky })).rejects.toThrow(BuildRejectedError);
    await expect(buildBundle({ root: leaky })).rejects.toThrow(/dev\/helper\.ts/);
    await expect(readdir(path.join(leaky, 'dist'))).rejects.toThrow(/ENOENT/);
  });

  it('refuses a bundle that imports from test/', async () => {
    const leaky = await project({
      ...functionsApp,
      'src/index.ts': `${functionsApp['src/index.ts']}import { fixture } from '../test/support/fixture.js';\nconsole.log(fixture);\n`,
      'test/support/fixture.ts': 'export const fixture = 1;\n',
    });
    await expect(buildBundle({ root: leaky })).rejects.toThrow(/test\/support\/fixture\.ts/);
  });

  it('removes stale files from a previous build so they cannot be deployed', async () => {
    const stale = await project(functionsApp);
    await mkdir(path.join(stale, 'dist'), { recursive: true });
    await writeFile(path.join(stale, 'dist/old-entry.js'), 'module.exports = 1;\n');
    await buildBundle({ root: stale });
    expect((await readdir(path.join(stale, 'dist'))).sort()).toEqual(['index.cjs', 'index.cjs.map']);
  });
});

describe('buildUnbundled', () => {
  it('transpiles each source file to ESM and leaves node_modules imports to run-time resolution', async () => {
    const root = await project(functionsApp);
    const { files } = await buildUnbundled({ root });
    expect(files).toBe(2);
    const outdir = path.join(root, 'dist-unbundled');
    expect((await readdir(outdir, { recursive: true })).sort()).toEqual([
      'index.js',
      'index.js.map',
      'lib',
      'lib/greeting.js',
      'lib/greeting.js.map',
    ]);
    const entry = await readFile(path.join(outdir, 'index.js'), 'utf8');
    expect(entry).toContain('from "@azure/functions"');
    expect(entry).toContain('from "./lib/greeting.js"');
    expect(entry).not.toContain('require(');
  });
});

describe('output folders', () => {
  it('refuses to empty the project root or a source folder', async () => {
    const root = await project(functionsApp);
    await expect(buildBundle({ root, outfile: 'index.cjs' })).rejects.toThrow(/Refusing to empty/);
    await expect(buildBundle({ root, outfile: 'src/out/index.cjs' })).rejects.toThrow(/Refusing to empty/);
    await expect(buildUnbundled({ root, outdir: 'test' })).rejects.toThrow(/Refusing to empty/);
    expect((await readdir(path.join(root, 'src'))).sort()).toEqual(['index.ts', 'lib']);
  });
});
