import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A copy of infra/ with some files edited (path under infra/ → edit), for checks that the compiler refuses something. */
export async function infraCopy(edits: Record<string, (text: string) => string>): Promise<{
  root: string;
  remove(): Promise<void>;
}> {
  const root = await mkdtemp(path.join(tmpdir(), 'infra-copy-'));
  await cp(path.resolve('infra'), path.join(root, 'infra'), {
    recursive: true,
    filter: (source) => !source.includes(`${path.sep}obj`),
  });
  for (const [file, edit] of Object.entries(edits)) {
    const target = path.join(root, 'infra', file);
    await writeFile(target, edit(await readFile(target, 'utf8')));
  }
  return { root, remove: () => rm(root, { recursive: true, force: true }) };
}
