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
  // `npm run infra:check` (run by .ci/run before the suite) also lints every file on its own; here the build, which
  // runs the same linter over the entry point and every module, gives the verdict with one compiler run.
  it('builds infra/main.bicep without a single diagnostic, linter included', async () => {
    const { template, diagnostics } = await checkBicep(undefined, { lint: false });
    expect(diagnostics).toEqual([]);
    expect(template).toHaveProperty('resources');
  });

  it('would fail on a linter warning, a compiler warning, and a module fetched from a container registry', async () => {
    const root = await infraCopy(
      (main) =>
        `${main}\nparam notUsedAnywhere string = ''\n` +
        `resource extraGroup 'Microsoft.Resources/resourceGroups@2021-04-01' = {\n  name: 'x'\n  location: location\n  properties: {\n    notAProperty: true\n  }\n}\n` +
        `module fromRegistry 'br/public:avm/res/key-vault/vault:0.13.0' = {\n  name: 'x'\n  scope: rg\n  params: { name: 'x' }\n}\n`,
    );
    const found = (await checkBicep(root, { lint: false })).diagnostics.join('\n');
    expect(found).toMatch(/Error no-unused-params/); // the linter, at error by infra/bicepconfig.json
    // The compiler's own type check only warns about an unknown property; the check counts warnings as failures.
    expect(found).toMatch(/Warning BCP037: .*notAProperty/);
    // Nothing but NuGet is reachable: with --no-restore the registry module is an error, never a download.
    expect(found).toMatch(/br\/public:avm\/res\/key-vault\/vault:0\.13\.0|BCP190|not been restored/);
  });
});
