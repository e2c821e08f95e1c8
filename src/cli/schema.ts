import { readFile, writeFile } from 'node:fs/promises';
import { printAdminSchema } from '../graphql/admin/index.js';
import { printTenantSchema } from '../graphql/index.js';

const FILES = { 'schema/tenant.graphql': printTenantSchema, 'schema/admin.graphql': printAdminSchema };

/** `tenantql schema` prints the sorted SDL to schema/; `--check` fails when a file has drifted. */
export default async function schema(argv: string[]): Promise<number> {
  const check = argv.includes('--check');
  let drifted = 0;
  for (const [file, print] of Object.entries(FILES)) {
    const sdl = print();
    if (!check) {
      await writeFile(file, sdl);
      continue;
    }
    const current = await readFile(file, 'utf8').catch(() => '');
    if (current !== sdl) {
      process.stderr.write(`${file} is out of date: run npm run schema\n`);
      drifted++;
    }
  }
  return drifted ? 1 : 0;
}
