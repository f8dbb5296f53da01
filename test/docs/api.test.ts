import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { problemTypes } from '../../src/http/problem.js';
import { routes } from '../../src/routes.js';

const API_DOC = path.resolve(import.meta.dirname, '../../docs/api.md');

/** docs/api.md is the people's side of /api/openapi.json: every operation of the route table has a heading there. */
describe('docs/api.md', () => {
  it('describes every operation of the route table with a heading of its own', async () => {
    const api = await readFile(API_DOC, 'utf8');
    const headings = new Set(
      [...api.matchAll(/^#{2,3} `([A-Z]+) (\/api\/[^`?\s]*)/gm)].map((match) => `${match[1]} ${match[2]}`),
    );
    const operations = routes
      .filter((route) => route.name !== 'notFound')
      .flatMap((route) =>
        route.methods
          .filter((method) => method !== 'OPTIONS')
          .map((method) => `${method} /api/${route.route.replace('{area}', 'admin')}`),
      );
    expect(operations.length).toBeGreaterThan(0);
    expect(operations.filter((operation) => !headings.has(operation))).toEqual([]);
  });

  it('lists every problem the service can answer in the error table, with its status', async () => {
    const api = await readFile(API_DOC, 'utf8');
    const rows = new Set(
      [...api.matchAll(/^\| (\d{3}) +\| `([a-z-]+)` +\|/gm)].map((match) => `${match[1]} ${match[2]}`),
    );
    const problems = Object.entries(problemTypes).map(([type, { status }]) => `${status} ${type}`);
    expect(problems.filter((problem) => !rows.has(problem))).toEqual([]);
  });
});
