import { defineCommand } from './command.js';

/** `tenantql schema` prints the sorted SDL to schema/; `--check` fails when a file has drifted. */
export default defineCommand({
  name: 'schema',
  summary: 'print the SDL to schema/ (--check: fail on drift)',
  description: `Writes the sorted SDL of both schemas to schema/tenant.graphql and schema/admin.graphql
(relative to the working directory). With --check it writes nothing and exits 1, naming each
file that is out of date.
`,
  options: { check: { type: 'boolean', help: 'compare instead of writing; exit 1 on drift' } },
  async run({ values }, _env, loadProduct) {
    const product = await loadProduct();
    if (!product) throw new Error('there is no tenant schema to print (createTenantQL({ schema }))');
    const { readFile, writeFile } = await import('node:fs/promises');
    const { defaultAdminSchema } = await import('../graphql/admin/index.js');
    const { printSortedSchema } = await import('../graphql/index.js');
    const files = {
      'schema/tenant.graphql': () => printSortedSchema(product.schema),
      'schema/admin.graphql': () => printSortedSchema(product.adminSchema ?? defaultAdminSchema()),
    };
    let drifted = 0;
    for (const [file, print] of Object.entries(files)) {
      const sdl = print();
      if (!values.check) {
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
  },
});
