/**
 * `azd up` packages and deploys the service as azure.yaml describes it. azd cannot run here, so its rules are ported
 * (test/infra/function-package.ts) from Azure/azure-dev (read at ae35809, August 2026; the rule exists since azd
 * 1.23.12): cli/azd/pkg/project/service_target_functionapp.go (resolveFunctionAppRemoteBuild, Flex Consumption
 * only), project_utils.go (createDeployableZip), framework_service_node.go (restore and package run `npm install`
 * and `npm run build --if-present` in the service folder) and the hook order of internal/cmd/up_graph.go.
 */
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTION_APP_DIR, stageFunctionApp } from '../../scripts/build.js';
import {
  type AzdFunctionService,
  azdPackageFiles,
  azdRemoteBuild,
  azdRemoteBuildFor,
  FUNCTION_PACKAGE_FILES,
} from './function-package.js';

/** The few keys of azure.yaml these checks need, read line by line (the file is ours and kept simple). */
function readAzureYaml(text: string) {
  const lines = text.split('\n').map((line) => line.replace(/\s+#.*$/, '').replace(/^\s*#.*$/, ''));
  const section = (name: string, indent: number) => {
    const start = lines.indexOf(`${' '.repeat(indent)}${name}:`);
    if (start === -1) return [];
    const body: string[] = [];
    for (const line of lines.slice(start + 1)) {
      if (line.trim() === '') continue;
      if (line.length - line.trimStart().length <= indent) break;
      body.push(line);
    }
    return body;
  };
  const value = (body: string[], key: string, indent: number) =>
    body
      .find((line) => line.startsWith(`${' '.repeat(indent)}${key}:`))
      ?.slice(indent + key.length + 1)
      .trim();
  const api = section('api', 2);
  const remoteBuild = value(api, 'remoteBuild', 4);
  return {
    project: value(api, 'project', 4),
    language: value(api, 'language', 4) ?? '',
    host: value(api, 'host', 4),
    remoteBuild: remoteBuild === undefined ? undefined : remoteBuild === 'true',
    hooks: section('hooks', 0),
  };
}

const temporary: string[] = [];
afterAll(async () => {
  await Promise.all(temporary.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("azd's remote-build rule for Flex Consumption, as ported", () => {
  const ts = (remoteBuild: boolean | undefined): AzdFunctionService => ({ language: 'ts', remoteBuild });

  // The cases of azd's own table (service_target_functionapp_test.go, Test_resolveFunctionAppRemoteBuild).
  it.each([
    [undefined, 'node_modules\n', true],
    [undefined, 'dist\n', false],
    [undefined, undefined, true],
    [false, undefined, false],
    [false, 'dist\n', false],
    [true, 'node_modules\n', true],
    [true, undefined, true],
    [undefined, '\uFEFFdist\nnode_modules\n.env\n', true],
  ] as const)('remoteBuild %s with .funcignore %j → remote build %s', (remoteBuild, funcignore, expected) => {
    expect(azdRemoteBuild(ts(remoteBuild), funcignore)).toBe(expected);
  });

  it("refuses the contradictions with azd's messages", () => {
    expect(() => azdRemoteBuild(ts(false), 'node_modules\n')).toThrow(
      "'remoteBuild: false' cannot be used when '.funcignore' excludes node_modules",
    );
    expect(() => azdRemoteBuild(ts(true), 'dist\n')).toThrow(
      "'remoteBuild: true' requires '.funcignore' to exclude node_modules",
    );
  });

  it('rejects the layout this repository had: the root, remoteBuild false, an allowlist .funcignore starting with /*', () => {
    const funcignore =
      '/*\n!/host.json\n!/package.json\n!/dist/\n/dist/*\n!/dist/index.cjs\n!/dist/index.cjs.map\n';
    expect(() => azdRemoteBuild(ts(false), funcignore)).toThrow('cannot be used when');
    // Unset, azd would turn remote build on, and the server would build from an upload without src/.
    expect(azdRemoteBuild(ts(undefined), funcignore)).toBe(true);
  });
});

describe('azure.yaml', () => {
  let yaml: ReturnType<typeof readAzureYaml>;

  beforeAll(async () => {
    yaml = readAzureYaml(await readFile(path.resolve('azure.yaml'), 'utf8'));
  });

  it('deploys the staged package folder as a TypeScript Function App, without remote build', () => {
    expect(yaml).toMatchObject({ language: 'ts', host: 'function', remoteBuild: false });
    expect(path.resolve(yaml.project ?? '')).toBe(path.resolve(FUNCTION_APP_DIR));
  });

  it('stages the folder before azd restores and packages it, for azd up / azd package and for a lone azd deploy', () => {
    const hookNames = yaml.hooks
      .filter((line) => /^ {2}\w+:/.test(line))
      .map((line) => line.trim().split(':')[0]);
    expect(hookNames.sort()).toEqual(['predeploy', 'prepackage', 'preprovision']);
    const runs = yaml.hooks.filter(
      (line) => line.trim().startsWith('run:') && !line.includes('scripts/azd/preprovision.ts'),
    );
    expect(runs).toHaveLength(2); // posix and windows; predeploy reuses them (a YAML alias)
    for (const run of runs) expect(run).toContain('npm run build:function-app');
    expect(yaml.hooks.join('\n')).toMatch(/predeploy: \*stage-function-app/);
  });

  it("passes azd's rule in the folder azd packages, and azd uploads exactly the package", async () => {
    // Staged from a copy of the project: test/infra/function-package.test.ts stages this repository's own
    // dist/function-app, and two test files emptying one folder side by side fail each other.
    const copy = await mkdtemp(path.join(tmpdir(), 'azd-package-'));
    temporary.push(copy);
    await cp(path.resolve('src'), path.join(copy, 'src'), { recursive: true });
    for (const file of ['package.json', 'host.json']) await cp(path.resolve(file), path.join(copy, file));
    await symlink(path.resolve('node_modules'), path.join(copy, 'node_modules'), 'dir');
    const staged = await stageFunctionApp({ root: copy });
    const service = { language: yaml.language, remoteBuild: yaml.remoteBuild };
    expect(await azdRemoteBuildFor(staged.dir, service)).toBe(false);
    expect(await azdPackageFiles(staged.dir, service)).toEqual(
      [...FUNCTION_PACKAGE_FILES, 'package-lock.json'].sort(),
    );
    // azd's restore runs `npm install` there: nothing to install, so no node_modules joins the upload.
    const manifest = JSON.parse(await readFile(path.join(staged.dir, 'package.json'), 'utf8'));
    expect(manifest.dependencies).toBeUndefined();
    expect(manifest.scripts).toBeUndefined(); // `npm run build --if-present` there does nothing
  });

  it('would catch a .funcignore in the staged folder that excludes node_modules', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'azd-service-'));
    temporary.push(dir);
    await mkdir(path.join(dir, 'dist'), { recursive: true });
    await writeFile(path.join(dir, '.funcignore'), 'node_modules\n');
    await expect(
      azdRemoteBuildFor(dir, { language: yaml.language, remoteBuild: yaml.remoteBuild }),
    ).rejects.toThrow("'remoteBuild: false' cannot be used");
  });
});
