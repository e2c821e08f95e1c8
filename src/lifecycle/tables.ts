import type pg from 'pg';

/** A table that carries `tenant_id`, as the catalog describes it. */
export interface TenantTable {
  /** Schema-qualified and quoted, ready for SQL: `app."projects"` style from format('%I.%I'). */
  readonly name: string;
  /** Every column, in their order in the table. */
  readonly columns: readonly string[];
  /** Columns PostgreSQL fills itself (GENERATED ALWAYS AS IDENTITY): an import must override them. */
  readonly identityAlways: readonly string[];
}

/**
 * Every table of the database with a `tenant_id` column, parents before children (by their
 * foreign keys), found in the catalog: a product's own tables take part in export, import,
 * move and purge without being named in code (SPEC §11). The per-tenant id counters
 * (app.tenant_row_ids) are one of them: they travel with the rows.
 */
export async function tenantTables(client: pg.ClientBase): Promise<TenantTable[]> {
  const { rows } = await client.query<{
    oid: number;
    name: string;
    columns: string[];
    identity_always: string[];
    parents: number[];
  }>(`
    SELECT c.oid::int AS oid,
           format('%I.%I', n.nspname, c.relname) AS name,
           array(SELECT a.attname::text FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                  ORDER BY a.attnum) AS columns,
           array(SELECT a.attname::text FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attidentity = 'a'
                  ORDER BY a.attnum) AS identity_always,
           array(SELECT DISTINCT f.confrelid::int FROM pg_constraint f
                  WHERE f.conrelid = c.oid AND f.contype = 'f' AND f.confrelid <> c.oid) AS parents
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute t ON t.attrelid = c.oid AND t.attname = 'tenant_id' AND NOT t.attisdropped
     WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname NOT LIKE 'pg_toast%'
     ORDER BY 2`);
  // Topological order (Kahn), ties by name; parents outside the set (app.tenants) do not count.
  const byOid = new Map(rows.map((row) => [row.oid, row]));
  const placed = new Set<number>();
  const ordered: TenantTable[] = [];
  while (ordered.length < rows.length) {
    const next = rows.find(
      (row) => !placed.has(row.oid) && row.parents.every((p) => !byOid.has(p) || placed.has(p)),
    );
    if (!next) throw new Error('tenant tables reference each other in a cycle; cannot order them');
    placed.add(next.oid);
    ordered.push({ name: next.name, columns: next.columns, identityAlways: next.identity_always });
  }
  return ordered;
}

/** The per-tenant id counters: deleted last, since the row-id triggers lock them. */
const COUNTERS = 'app.tenant_row_ids';

/**
 * Every row of the tenant where `client` is, children first, the id counters last, in one
 * transaction. Resolves how many rows went.
 */
export async function deleteTenantRows(client: pg.ClientBase, tenantId: number): Promise<number> {
  const tables = (await tenantTables(client)).map((t) => t.name).reverse();
  const ordered = [...tables.filter((t) => t !== COUNTERS), ...tables.filter((t) => t === COUNTERS)];
  let deleted = 0;
  await client.query('BEGIN');
  try {
    // The row-id triggers lock the tenant's counter by app.tenant_id.
    await client.query("SELECT set_config('app.tenant_id', $1, true)", [String(tenantId)]);
    for (const table of ordered) {
      const { rowCount } = await client.query(`DELETE FROM ${table} WHERE tenant_id = $1`, [tenantId]);
      deleted += rowCount ?? 0;
    }
    await client.query('COMMIT');
    return deleted;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/** Rows of the tenant in every tenant table of `client`'s database (the catalog's, not a list). */
export async function countTenantRows(
  client: pg.ClientBase,
  tenantId: number,
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of await tenantTables(client)) {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${table.name} WHERE tenant_id = $1`,
      [tenantId],
    );
    counts[table.name] = rows[0]!.n;
  }
  return counts;
}
