/**
 * The Bicep compiles and lints clean with the real Bicep CLI (scripts/bicep.ts, `npm run infra:check`, also run by
 * .ci/run). The CLI is the NuGet package Azure.Bicep.CommandLine.linux-x64 restored with `dotnet restore`; this
 * project's machines and CI have .NET and reach a NuGet copy that serves it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { checkBicep } from '../../scripts/bicep.js';
import { infraCopies } from './infra-copy.js';

const copies = infraCopies();
afterAll(() => copies.cleanUp());
const infraCopy = (edit: (main: string) => string) => copies.copy('main.bicep', edit);

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
    const { diagnostics } = await checkBicep(root, { lint: false });
    expect(diagnostics.join('\n')).toMatch(/no-unused-params/);
    expect(diagnostics.length).toBeGreaterThanOrEqual(2);
  });

  it('refuses a module that would be fetched from a container registry (nothing but NuGet is reachable)', async () => {
    const root = await infraCopy(
      (main) =>
        `${main}\nmodule fromRegistry 'br/public:avm/res/key-vault/vault:0.13.0' = {\n  name: 'x'\n  scope: rg\n  params: { name: 'x' }\n}\n`,
    );
    const { diagnostics } = await checkBicep(root, { lint: false });
    expect(diagnostics.join('\n')).toMatch(/Error/);
  });
});
