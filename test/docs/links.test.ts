import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DOCUMENTS = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

/** Markdown without its fenced code blocks and inline code, where `[x](y)` is text, not a link. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, (code) => ' '.repeat(code.length));
}

/**
 * The anchors GitHub gives a document's headings: lower case, punctuation other than `-` and `_` dropped, spaces
 * as `-`, and `-1`, `-2`… for repeats (github/cmark-gfm's anchor filter, as github-slugger implements it).
 */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const [, heading] of markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6} (.+)$/gm)) {
    const base = heading!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M} _-]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

/** Every relative link target of a document: `[text](target)`, images included; web and mail links are not ours. */
function relativeLinks(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)]
    .map((match) => match[1]!)
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

function brokenLinks(document: string): string[] {
  const source = path.join(ROOT, document);
  const markdown = readFileSync(source, 'utf8');
  return relativeLinks(markdown).filter((target) => {
    const [file, anchor] = target.split('#') as [string, string | undefined];
    const resolved = file === '' ? source : path.resolve(path.dirname(source), decodeURIComponent(file));
    if (!existsSync(resolved)) return true;
    if (anchor === undefined) return false;
    if (statSync(resolved).isDirectory() || !resolved.endsWith('.md')) return true;
    return !anchors(readFileSync(resolved, 'utf8')).has(decodeURIComponent(anchor));
  });
}

describe('relative links in README.md and docs/', () => {
  it.each(DOCUMENTS)('%s links only to files and headings that exist', (document) => {
    expect(brokenLinks(document)).toEqual([]);
  });

  it('finds the anchors GitHub makes', () => {
    expect([
      ...anchors('# Use it from your app: `Credential`\n## `GET /api/token?scopes=chat,voip`\n## A\n## A'),
    ]).toEqual(['use-it-from-your-app-credential', 'get-apitokenscopeschatvoip', 'a', 'a-1']);
  });

  it('sees links but not the ones inside code', () => {
    expect(
      relativeLinks('[a](docs/a.md) `[b](b.md)` ![c](c.png "title")\n```\n[d](d.md)\n```\n[e](https://x.y)'),
    ).toEqual(['docs/a.md', 'c.png']);
  });
});
