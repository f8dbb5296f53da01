import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Copies of infra/ with one file edited, for checks that the real compiler refuses something; removed by cleanUp. */
export function infraCopies() {
  const roots: string[] = [];
  return {
    async copy(file: string, edit: (text: string) => string): Promise<string> {
      const root = await mkdtemp(path.join(tmpdir(), 'infra-copy-'));
      roots.push(root);
      await cp(path.resolve('infra'), path.join(root, 'infra'), {
        recursive: true,
        filter: (source) => !source.includes(`${path.sep}obj`),
      });
      const target = path.join(root, 'infra', file);
      await writeFile(target, edit(await readFile(target, 'utf8')));
      return root;
    },
    cleanUp: () => Promise.all(roots.map((root) => rm(root, { recursive: true, force: true }))),
  };
}
