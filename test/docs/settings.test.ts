import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { settingsSchema } from '../../src/settings.js';

const SETTINGS_DOC = path.resolve(import.meta.dirname, '../../docs/settings.md');
const NO_DEFAULT = '—';

/** A row of the settings table: `| \`NAME\` | default | meaning |`. */
interface DocumentedSetting {
  name: string;
  defaultCell: string;
}

function documentedSettings(markdown: string): DocumentedSetting[] {
  return [...markdown.matchAll(/^\| `([A-Za-z_][A-Za-z0-9_]*)` \| ([^|]*) \|/gm)].map((match) => ({
    name: match[1]!,
    defaultCell: match[2]!.trim(),
  }));
}

/**
 * What the schema itself gives for a setting left unset, as the table writes it (a list as its comma text, the way
 * it is set); undefined when there is none (an optional setting, or an empty list).
 */
function schemaDefault(name: keyof typeof settingsSchema.shape): string | undefined {
  const parsed = settingsSchema.shape[name].safeParse(undefined);
  if (!parsed.success || parsed.data === undefined) return undefined;
  const value: unknown = parsed.data;
  if (Array.isArray(value)) return value.length === 0 ? undefined : value.join(',');
  return String(value);
}

/** The settings reference is tested against the schema, so adding or renaming a setting means updating the table. */
describe('docs/settings.md', () => {
  let documented: DocumentedSetting[];
  const names = Object.keys(settingsSchema.shape) as (keyof typeof settingsSchema.shape)[];
  beforeAll(async () => {
    documented = documentedSettings(await readFile(SETTINGS_DOC, 'utf8'));
  });

  it('lists every setting the schema reads, once', () => {
    const listed = documented.map(({ name }) => name);
    expect(names.filter((name) => !listed.includes(name))).toEqual([]);
    expect(listed.filter((name, index) => listed.indexOf(name) !== index)).toEqual([]);
  });

  it('lists no setting the schema does not read', () => {
    const known = new Set<string>(names);
    expect(documented.map(({ name }) => name).filter((name) => !known.has(name))).toEqual([]);
  });

  it.each(names)('gives the schema default of %s', (name) => {
    const row = documented.find((setting) => setting.name === name);
    expect(row, `${name} is not in the table`).toBeDefined();
    const expected = schemaDefault(name);
    if (expected === undefined) expect(row!.defaultCell.startsWith(NO_DEFAULT), row!.defaultCell).toBe(true);
    else expect(/^`([^`]*)`/.exec(row!.defaultCell)?.[1]).toBe(expected);
  });
});
