/**
 * Small readers for the offline infra checks: no Bicep compiler runs here, so the tests read the Bicep text.
 * They only need comments removed, top-level keys of an object literal, and resource blocks.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

export const INFRA_DIR = path.resolve('infra');

/** Every .bicep file under infra/, relative path -> text. */
export async function readBicepFiles(): Promise<Map<string, string>> {
  const files = (await readdir(INFRA_DIR, { recursive: true }))
    .filter((file) => file.endsWith('.bicep'))
    .sort();
  return new Map(
    await Promise.all(
      files.map(
        async (file) =>
          [file.split(path.sep).join('/'), await readFile(path.join(INFRA_DIR, file), 'utf8')] as const,
      ),
    ),
  );
}

/** Bicep text without // and /* *\/ comments; string literals ('...', with \\ escapes) are kept intact. */
export function withoutComments(bicep: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < bicep.length; i++) {
    const char = bicep[i]!;
    if (inString) {
      out += char;
      if (char === '\\') out += bicep[++i] ?? '';
      else if (char === "'") inString = false;
    } else if (char === "'") {
      inString = true;
      out += char;
    } else if (bicep.startsWith('//', i)) {
      while (i < bicep.length && bicep[i] !== '\n') i++;
      out += '\n';
    } else if (bicep.startsWith('/*', i)) {
      const end = bicep.indexOf('*/', i + 2);
      i = end === -1 ? bicep.length : end + 1;
    } else {
      out += char;
    }
  }
  return out;
}

/** The text from `opening` to its matching closing brace (inclusive), or undefined. */
function balancedBlock(code: string, start: number): string | undefined {
  const open = code.indexOf('{', start);
  if (open === -1) return undefined;
  let depth = 0;
  let inString = false;
  for (let i = open; i < code.length; i++) {
    const char = code[i]!;
    if (inString) {
      if (char === '\\') i++;
      else if (char === "'") inString = false;
    } else if (char === "'") inString = true;
    else if (char === '{' || char === '[') depth++;
    else if (char === '}' || char === ']') {
      depth--;
      if (depth === 0) return code.slice(open, i + 1);
    }
  }
  return undefined;
}

/** Top-level keys of `var <name> = { ... }`. */
export function objectVariableKeys(bicep: string, name: string): string[] {
  const code = withoutComments(bicep);
  const match = new RegExp(`^var\\s+${name}\\s*=\\s*\\{`, 'm').exec(code);
  if (!match) throw new Error(`var ${name} = { ... } not found`);
  const block = balancedBlock(code, match.index)!;
  const keys: string[] = [];
  let depth = 0;
  for (const line of block.split('\n')) {
    const key = /^\s*([A-Za-z_][A-Za-z0-9_]*|'[^']+')\s*:/.exec(line);
    if (depth === 1 && key) keys.push(key[1]!.replace(/^'|'$/g, ''));
    for (const char of line.replace(/'(?:\\.|[^'\\])*'/g, "''")) {
      if (char === '{' || char === '[') depth++;
      else if (char === '}' || char === ']') depth--;
    }
  }
  return keys;
}

export interface ResourceBlock {
  symbol: string;
  type: string;
  apiVersion: string;
  body: string;
}

/** Every `resource <symbol> '<type>[@<version>]' [existing] = { ... }` declaration; `existing` ones get an empty body. */
export function resourceBlocks(bicep: string): ResourceBlock[] {
  const code = withoutComments(bicep);
  const blocks: ResourceBlock[] = [];
  for (const match of code.matchAll(/^\s*resource\s+(\w+)\s+'([^'@]+)(?:@([^']+))?'\s*(existing\s*)?=/gm)) {
    const body = balancedBlock(code, match.index + match[0].length) ?? '';
    blocks.push({
      symbol: match[1]!,
      type: match[2]!,
      apiVersion: match[3] ?? '',
      body: match[4] ? '' : body,
    });
  }
  return blocks;
}

/** A `name: value` property inside a block (first occurrence), value as written (without quotes). */
export function propertyValue(block: string, name: string): string | undefined {
  const match = new RegExp(`\\b${name}\\s*:\\s*('(?:\\\\.|[^'\\\\])*'|[^\\n]+)`).exec(block);
  return match?.[1]?.trim().replace(/^'|'$/g, '');
}

/** Setting names listed in the marked table of docs/deploy.md (first column, in backticks). */
export function documentedSettings(markdown: string): string[] {
  const start = markdown.indexOf('<!-- user-settings:start -->');
  const end = markdown.indexOf('<!-- user-settings:end -->');
  if (start === -1 || end === -1 || end < start)
    throw new Error('the user-settings table markers are missing');
  return [...markdown.slice(start, end).matchAll(/^\|\s*`([A-Za-z_][A-Za-z0-9_]*)`\s*\|/gm)].map(
    (row) => row[1]!,
  );
}
