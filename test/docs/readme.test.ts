import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const README = path.resolve(import.meta.dirname, '../../README.md');
/** The front door: long enough to reach a token and find the rest, short enough to read in a few minutes. */
const MAX_README_LINES = 200;

describe('README.md', () => {
  let readme: string;
  beforeAll(async () => {
    readme = await readFile(README, 'utf8');
  });

  it(`stays a front door of at most ${MAX_README_LINES} lines`, () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(MAX_README_LINES);
  });

  it('gives the quick start as npm ci, then npm start and npm test each in a block of its own', () => {
    const quickStart = readme.slice(readme.indexOf('## Quick start'));
    const blocks = [...quickStart.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]!.trim());
    expect(blocks.slice(0, 3)).toEqual(['npm ci', 'npm start', 'npm test']);
  });
});
