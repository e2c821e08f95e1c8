import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** The first of `names` that is an executable file in a directory of `path`, then of `extraDirs`. */
export async function findExecutable(
  names: readonly string[],
  path = process.env.PATH ?? '',
  extraDirs: readonly string[] = [],
): Promise<string | undefined> {
  for (const name of names) {
    for (const dir of [...path.split(delimiter), ...extraDirs]) {
      const candidate = join(dir, name);
      if (
        await access(candidate, constants.X_OK).then(
          () => true,
          () => false,
        )
      )
        return candidate;
    }
  }
  return undefined;
}
