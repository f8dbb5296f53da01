import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../../src/routes.js';
import { settingsSchema } from '../../src/settings.js';

/** The README is the user's manual: every setting the code reads and every operation it serves must be in it. */
describe('README.md', () => {
  let readme: string;
  beforeAll(async () => {
    readme = await readFile(path.resolve('README.md'), 'utf8');
  });

  it('lists every setting the code reads in its settings table', () => {
    const documented = new Set(
      [...readme.matchAll(/^\| `([A-Za-z_][A-Za-z0-9_]*)` \|/gm)].map((match) => match[1]),
    );
    const missing = Object.keys(settingsSchema.shape).filter((name) => !documented.has(name));
    expect(missing).toEqual([]);
  });

  it('describes every operation of the route table with a heading of its own', () => {
    const headings = new Set(
      [...readme.matchAll(/^#{3,4} `([A-Z]+) (\/api\/[^`?\s]*)/gm)].map((match) => `${match[1]} ${match[2]}`),
    );
    const operations = routes
      .filter((route) => route.name !== 'notFound')
      .flatMap((route) =>
        route.methods
          .filter((method) => method !== 'OPTIONS')
          .map((method) => `${method} /api/${route.route.replace('{area}', 'admin')}`),
      );
    expect(operations.filter((operation) => !headings.has(operation))).toEqual([]);
  });

  it('keeps the quick start to the two commands after npm ci', () => {
    const quickStart = readme.slice(readme.indexOf('## Quick start'));
    expect(quickStart).toMatch(/```sh\nnpm ci\nnpm start .*\nnpm test .*\n```/);
  });
});
