import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cruise, type ICruiseOptions, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * The layers of src/ as .dependency-cruiser.cjs states them (no import cycle, type imports included; arrows point
 * down only), checked with dependency-cruiser over the real sources.
 */
const CONFIG = path.resolve('.dependency-cruiser.cjs');

const describeViolation = (violation: IViolation) =>
  `${violation.rule.name}: ${[violation.from, ...(violation.cycle?.map((step) => step.name) ?? [violation.to])].join(' -> ')}`;

async function violationsIn(
  directories: string[],
  options: ICruiseOptions,
  tsConfig?: string,
): Promise<string[]> {
  const transpile = tsConfig ? { tsConfig: extractTSConfig(tsConfig) } : undefined;
  const { output } = await cruise(directories, { ...options, validate: true }, undefined, transpile);
  if (typeof output === 'string') throw new Error('dependency-cruiser answered text, not a cruise result');
  return output.summary.violations.map(describeViolation);
}

describe('the import graph of src/', () => {
  let options: ICruiseOptions;
  beforeAll(async () => {
    options = await extractDepcruiseOptions(CONFIG);
  });

  it('has no cycle and every arrow points down a layer', async () => {
    expect(await violationsIn(['src'], options, 'tsconfig.json')).toEqual([]);
  });

  /** The violations dependency-cruiser finds in a src/ made of `files` alone (path → text). */
  async function violationsAmong(files: Record<string, string>): Promise<string[]> {
    const base = await mkdtemp(path.join(tmpdir(), 'layers-'));
    try {
      for (const [file, text] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(base, file)), { recursive: true });
        await writeFile(path.join(base, file), text);
      }
      const { tsConfig: _tsConfig, ...withoutTsConfig } = options;
      return await violationsIn(['src'], { ...withoutTsConfig, baseDir: base });
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  }

  it('would catch a cycle closed by type imports alone, and an adapter importing the request path', async () => {
    const found = await violationsAmong({
      'src/http/pipeline.ts': "import type { Services } from '../services';\nexport type Step = 1;\n",
      'src/services.ts': "import type { Step } from './http/pipeline';\nexport type Services = Step;\n",
      'src/limits/store.ts': "import type { Step } from '../http/pipeline';\nexport type Store = Step;\n",
    });
    expect(found).toContain('no-circular: src/http/pipeline.ts -> src/services.ts -> src/http/pipeline.ts');
    expect(found).toContain('adapters-below-the-request-path: src/limits/store.ts -> src/http/pipeline.ts');
  });

  it('would catch an adapter or a shared helper reading the settings instead of taking its own options', async () => {
    const found = await violationsAmong({
      'src/settings.ts': 'export type Settings = { store: string };\n',
      'src/tokens/sealer.ts':
        "import type { Settings } from '../settings';\nexport type Store = Settings['store'];\n",
      'src/shared/detail.ts':
        "import type { Settings } from '../settings';\nexport type Store = Settings['store'];\n",
      'src/services.ts': "import type { Settings } from './settings';\nexport type Root = Settings;\n",
    });
    expect(found).toContain('adapters-take-their-own-options: src/tokens/sealer.ts -> src/settings.ts');
    expect(found).toContain('adapters-take-their-own-options: src/shared/detail.ts -> src/settings.ts');
    expect(found.filter((violation) => violation.includes('src/services.ts -> src/settings.ts'))).toEqual([]);
  });
});
