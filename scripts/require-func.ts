/**
 * `npm run start:func` runs this first: without Azure Functions Core Tools on PATH, the shell's `func: not found`
 * names nothing to install, so say what is missing, how to get it, and what runs without it.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** The path of `command` on `searchPath` (PATH's format), or undefined when no directory holds it as executable. */
export function onPath(
  command: string,
  searchPath: string,
  extensions: readonly string[] = [''],
): string | undefined {
  for (const directory of searchPath.split(path.delimiter)) {
    if (directory === '') continue;
    for (const extension of extensions) {
      const candidate = path.join(directory, command + extension);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // Not here; try the next directory.
      }
    }
  }
  return undefined;
}

export const MISSING_FUNC = [
  'npm run start:func needs Azure Functions Core Tools (the `func` command), which is not on PATH.',
  'Install version 4: npm install --global azure-functions-core-tools@4',
  '  (or see https://learn.microsoft.com/azure/azure-functions/functions-run-local).',
  'Without it, npm start serves the same handlers with everything it needs (docs/running-locally.md).',
].join('\n');

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // Windows finds func.cmd or func.exe through PATHEXT.
  const extensions = process.platform === 'win32' ? (process.env.PATHEXT ?? '.EXE;.CMD').split(';') : [''];
  if (!onPath('func', process.env.PATH ?? '', extensions)) {
    console.error(MISSING_FUNC);
    process.exit(1);
  }
}
