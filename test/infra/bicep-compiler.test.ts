/**
 * The Bicep compiles and lints clean with the real Bicep CLI (scripts/bicep.ts, `npm run infra:check`, also run by
 * .ci/run, which lints every file on its own too). The CLI is the NuGet package Azure.Bicep.CommandLine.linux-x64
 * restored with `dotnet restore`; this project's machines and CI have .NET and reach a NuGet copy that serves it.
 * The compiler checks resource properties against its built-in types (the same as Azure/bicep-types-az), so a
 * property the platform does not have is a diagnostic, and every diagnostic fails the check.
 *
 * Two compiler runs, one after the other in beforeAll: the repository as it is, and a copy with known mistakes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BicepCheck, checkBicep } from '../../scripts/bicep.js';
import { infraCopy } from './infra-copy.js';

const MISTAKES = {
  'main.bicep': (main: string) =>
    `${main}\nparam notUsedAnywhere string = ''\n` +
    `resource extraGroup 'Microsoft.Resources/resourceGroups@2021-04-01' = {\n  name: 'x'\n  location: location\n  properties: {\n    notAProperty: true\n  }\n}\n` +
    `module fromRegistry 'br/public:avm/res/key-vault/vault:0.13.0' = {\n  name: 'x'\n  scope: rg\n  params: { name: 'x' }\n}\n`,
  // Platform CORS with a preflight max-age, which siteConfig.cors does not have.
  'app/api.bicep': (api: string) =>
    api.replace('supportCredentials: false', 'supportCredentials: false\n        maxAge: 600'),
};

let clean: BicepCheck;
let withMistakes: string;
let copy: Awaited<ReturnType<typeof infraCopy>> | undefined;

beforeAll(async () => {
  // The build runs the linter over the entry point and every module: one run per verdict.
  clean = await checkBicep(undefined, { lint: false });
  copy = await infraCopy(MISTAKES);
  withMistakes = (await checkBicep(copy.root, { lint: false })).diagnostics.join('\n');
});
afterAll(() => copy?.remove());

describe('Bicep: the real compiler, warnings as errors', () => {
  it('builds infra/main.bicep without a single diagnostic, linter included', () => {
    expect(clean.diagnostics).toEqual([]);
    expect(clean.template).toHaveProperty('resources');
  });

  it('fails on a linter rule (at error by infra/bicepconfig.json)', () => {
    expect(withMistakes).toMatch(/Error no-unused-params/);
  });

  it("fails on the compiler's own warnings: an unknown property is only a warning, and still fails the check", () => {
    expect(withMistakes).toMatch(/Warning BCP037: .*notAProperty/);
  });

  it('refuses a module from a container registry: with --no-restore it is an error, never a download', () => {
    expect(withMistakes).toMatch(/BCP190.*key-vault\/vault:0\.13\.0/);
  });

  /**
   * Platform CORS has no preflight max-age: siteConfig.cors has only allowedOrigins and supportCredentials, and the
   * host builds its policy from those alone (Azure/azure-functions-host src/WebJobs.Script.WebHost/Configuration/
   * CorsOptionsSetup.cs: new CorsPolicyBuilder(allowedOrigins), AllowCredentials when asked, no SetPreflightMaxAge),
   * so browsers use their own default (5 s in Chromium). docs/deploy.md says so.
   */
  it('has no max-age to set on Flex Consumption: the compiler refuses one in siteConfig.cors', () => {
    expect(withMistakes).toMatch(/BCP037: The property "maxAge" is not allowed/);
  });
});
