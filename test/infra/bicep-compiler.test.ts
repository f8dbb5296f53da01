/**
 * The Bicep compiles and lints clean with the real Bicep CLI (scripts/bicep.ts, `npm run infra:check`, also run by
 * .ci/run). The CLI is the NuGet package Azure.Bicep.CommandLine.linux-x64 restored with `dotnet restore`; this
 * project's machines and CI have .NET and reach a NuGet copy that serves it.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkBicep } from '../../scripts/bicep.js';

const temporary: string[] = [];
afterAll(async () => {
  await Promise.all(temporary.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A copy of infra/ whose main.bicep got `edit` applied. */
async function infraCopy(edit: (main: string) => string): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'infra-copy-'));
  temporary.push(root);
  await cp(path.resolve('infra'), path.join(root, 'infra'), {
    recursive: true,
    filter: (source) => !source.includes(`${path.sep}obj`),
  });
  const main = path.join(root, 'infra/main.bicep');
  await writeFile(main, edit(await readFile(main, 'utf8')));
  return root;
}

describe('Bicep: the real compiler, warnings as errors', () => {
  it('builds infra/main.bicep and lints every Bicep file without a single diagnostic', async () => {
    const { template, diagnostics } = await checkBicep();
    expect(diagnostics).toEqual([]);
    expect(template).toHaveProperty('resources');
  });

  it('would fail on a linter warning (an unused parameter) and on a compiler warning', async () => {
    const root = await infraCopy(
      (main) =>
        `${main}\nparam notUsedAnywhere string = ''\nvar typoed = subscription().id\noutput Y string = typoed.lenght\n`,
    );
    const { diagnostics } = await checkBicep(root);
    expect(diagnostics.join('\n')).toMatch(/no-unused-params/);
    expect(diagnostics.length).toBeGreaterThanOrEqual(2);
  });

  it('refuses a module that would be fetched from a container registry (nothing but NuGet is reachable)', async () => {
    const root = await infraCopy(
      (main) =>
        `${main}\nmodule fromRegistry 'br/public:avm/res/key-vault/vault:0.13.0' = {\n  name: 'x'\n  scope: rg\n  params: { name: 'x' }\n}\n`,
    );
    const { diagnostics } = await checkBicep(root);
    expect(diagnostics.join('\n')).toMatch(/Error/);
  });
});
