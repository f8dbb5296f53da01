/**
 * `func azure functionapp publish` as docs/deploy.md writes it. Core Tools cannot run here, so its rules are read
 * from Azure/azure-functions-core-tools (read at 3ee97a6, August 2026, Core Tools 4.x):
 * - the worker runtime comes from a language flag (src/Cli/func/Helpers/GlobalCoreToolsSettings.cs, Init), else
 *   FUNCTIONS_WORKER_RUNTIME in the environment, else local.settings.json (WorkerRuntimeLanguageHelper.cs,
 *   GetCurrentWorkerRuntimeLanguage); none → "Worker runtime is not set" (Actions/AzureActions/
 *   PublishFunctionAppAction.cs, ValidateFunctionAppPublish);
 * - the app name is the first argument (Actions/AzureActions/BaseFunctionAppAction.cs);
 * - without --build remote a Node app is zipped as it is, with no build step (Helpers/ZipHelper.cs, GetAppZipFile).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const LANGUAGE_FLAGS: Record<string, string> = {
  '--csharp': 'dotnet',
  '--dotnet': 'dotnet',
  '--dotnet-isolated': 'dotnet-isolated',
  '--javascript': 'node',
  '--typescript': 'node',
  '--node': 'node',
  '--java': 'java',
  '--python': 'python',
  '--powershell': 'powershell',
  '--custom': 'custom',
  '--go': 'go',
  '--golang': 'go',
};

/** The worker runtime Core Tools resolves for a publish, or undefined ("Worker runtime is not set"). */
function workerRuntime(
  args: readonly string[],
  env: Record<string, string | undefined>,
  localSettings: { Values?: Record<string, string> } | undefined,
): string | undefined {
  const flag = Object.keys(LANGUAGE_FLAGS).find((name) => args.includes(name));
  if (flag) return LANGUAGE_FLAGS[flag];
  const fromEnv = env.FUNCTIONS_WORKER_RUNTIME?.trim();
  if (fromEnv) return fromEnv;
  return localSettings?.Values?.FUNCTIONS_WORKER_RUNTIME || undefined;
}

/** The arguments after `func` of every `func azure functionapp publish` line in a shell block of the markdown. */
function publishCommands(markdown: string): string[][] {
  const blocks = [...markdown.matchAll(/```(?:bash|sh)\n([\s\S]*?)```/g)].map((match) => match[1]!);
  return blocks
    .flatMap((block) => block.split('\n'))
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line.includes('func azure functionapp publish'))
    .map((line) => line.slice(line.indexOf('func azure functionapp publish') + 'func '.length).split(/\s+/));
}

describe('Core Tools worker-runtime resolution, as ported', () => {
  it('takes a language flag first, then the environment, then local.settings.json', () => {
    expect(workerRuntime(['--typescript'], { FUNCTIONS_WORKER_RUNTIME: 'python' }, undefined)).toBe('node');
    expect(workerRuntime([], { FUNCTIONS_WORKER_RUNTIME: 'node' }, undefined)).toBe('node');
    expect(workerRuntime([], {}, { Values: { FUNCTIONS_WORKER_RUNTIME: 'node' } })).toBe('node');
  });

  it('finds none in a fresh clone (no local.settings.json, nothing in the environment) without a flag', () => {
    expect(workerRuntime(['azure', 'functionapp', 'publish', 'my-app'], {}, undefined)).toBeUndefined();
  });
});

describe('the publish recipe in docs/deploy.md', () => {
  let commands: string[][];
  let recipe: string;

  beforeAll(async () => {
    recipe = await readFile(path.resolve('docs/deploy.md'), 'utf8');
    commands = publishCommands(recipe);
  });

  it('resolves the Node.js worker from a fresh clone, with no local.settings.json and nothing in the environment', () => {
    expect(commands.length).toBeGreaterThan(0);
    for (const args of commands) expect(workerRuntime(args, {}, undefined), args.join(' ')).toBe('node');
  });

  it('names the app first, right after `publish`, and never asks for a remote build or local settings', () => {
    for (const args of commands) {
      expect(args.slice(0, 3)).toEqual(['azure', 'functionapp', 'publish']);
      expect(args[3], args.join(' ')).toMatch(/^<APP_NAME>$/);
      expect(args).not.toContain('remote');
      expect(args).not.toContain('--publish-local-settings');
    }
  });

  it('builds the bundle before publishing: Core Tools uploads a Node.js app as it is', () => {
    const section = recipe.slice(recipe.indexOf('## Publish to an existing Function App'));
    const firstPublish = section.indexOf('func azure functionapp publish <APP_NAME>');
    expect(firstPublish).toBeGreaterThan(-1);
    expect(section.lastIndexOf('npm run build', firstPublish)).toBeGreaterThan(-1);
  });
});
