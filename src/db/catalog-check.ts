import pg from 'pg';

/** Schemas PostgreSQL owns; everything else is ours to check. */
export const USER_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'`;

export interface CatalogCheckOptions {
  /**
   * How the lines name the connected role where a problem is its own (`… executable by %s`).
   * @default 'the runtime role'
   */
  subject?: string;
  /**
   * Checks the tenant tables' row level security and policies. Off where another role's check
   * of the same database has already done it (the tables are the same for every role).
   * @default true
   */
  tenantTables?: boolean;
}

/**
 * Connected as the runtime role (`DATABASE_URL`), or a dedicated tenant's role inside its own
 * database, lists every way it could read or write across tenants; empty means none found.
 * Only catalogs are read, which any role may. Each problem names its object first:
 * `app.foo: row level security is not forced`.
 */
export async function checkCatalog(url: string, options: CatalogCheckOptions = {}): Promise<string[]> {
  const client = new pg.Client({ connectionString: url, application_name: 'tenantql db check' });
  await client.connect();
  try {
    return await checkCatalogAs(client, options);
  } finally {
    await client.end();
  }
}

/** `checkCatalog` over an open connection: the problems of its database for its role. */
export async function checkCatalogAs(
  client: pg.Client,
  options: CatalogCheckOptions = {},
): Promise<string[]> {
  return [
    ...(options.tenantTables === false ? [] : await checkTenantTables(client)),
    ...(await checkRole(client)),
    ...(await checkOtherObjects(client, options.subject ?? 'the runtime role')),
  ];
}

interface PolicyRow {
  table: string;
  relrowsecurity: boolean;
  relforcerowsecurity: boolean;
  cmd: string | null;
  using: string | null;
  check: string | null;
}

/** Every table with a tenant_id column: enabled and forced RLS, and a complete tenant policy. */
async function checkTenantTables(client: pg.Client): Promise<string[]> {
  // Only permissive policies that apply to this role grant access; a missing policy denies
  // everything, so it is safe, but it is still a broken table.
  const { rows } = await client.query<PolicyRow>(`
    SELECT format('%I.%I', n.nspname, c.relname) AS table, c.relrowsecurity, c.relforcerowsecurity,
           p.polcmd AS cmd, pg_get_expr(p.polqual, p.polrelid) AS using,
           pg_get_expr(p.polwithcheck, p.polrelid) AS check
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
      LEFT JOIN pg_policy p ON p.polrelid = c.oid AND p.polpermissive
       AND EXISTS (SELECT 1 FROM unnest(p.polroles) AS r(oid)
                    WHERE r.oid = 0 OR pg_has_role(current_user, r.oid, 'MEMBER'))
     WHERE c.relkind IN ('r', 'p') AND ${USER_SCHEMAS}
     ORDER BY 1`);

  const tables = new Map<string, PolicyRow[]>();
  for (const row of rows) tables.set(row.table, [...(tables.get(row.table) ?? []), row]);
  const problems: string[] = [];
  for (const [table, policies] of tables) {
    const first = policies[0]!;
    if (!first.relrowsecurity) problems.push(`${table}: row level security is not enabled`);
    if (!first.relforcerowsecurity) problems.push(`${table}: row level security is not forced`);
    if (!coversAllCommands(policies)) {
      problems.push(
        `${table}: no policy for all commands with USING and WITH CHECK comparing tenant_id with app.current_tenant_id()`,
      );
    }
  }
  return problems;
}

/** A FOR ALL policy, or one per command, each with the expressions that command needs. */
function coversAllCommands(policies: PolicyRow[]): boolean {
  const scoped = (expr: string | null) =>
    expr !== null && /\btenant_id\b/.test(expr) && /current_tenant_id\(\)|'app\.tenant_id'/.test(expr);
  const has = (cmd: string, using: boolean, check: boolean) =>
    policies.some((p) => p.cmd === cmd && (!using || scoped(p.using)) && (!check || scoped(p.check)));
  // polcmd: * all, r select, a insert, w update, d delete.
  return (
    has('*', true, true) ||
    (has('r', true, false) && has('a', false, true) && has('w', true, true) && has('d', true, false))
  );
}

/** The role itself and every role it can SET ROLE to, directly or through others. */
async function checkRole(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{
    role: string;
    is_self: boolean;
    rolsuper: boolean;
    rolbypassrls: boolean;
    rolcreaterole: boolean;
    owns: string[] | null;
  }>(`
    WITH RECURSIVE reachable(oid, is_self) AS (
      SELECT oid, true FROM pg_roles WHERE rolname = current_user
      UNION
      SELECT m.roleid, false FROM pg_auth_members m JOIN reachable ON m.member = reachable.oid
    ), owned(owner, what) AS (
      SELECT c.relowner, format('%s %I.%I', CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table'
               WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
               ELSE 'relation' END, n.nspname, c.relname)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${USER_SCHEMAS}
      UNION ALL
      SELECT n.nspowner, format('schema %I', n.nspname) FROM pg_namespace n WHERE ${USER_SCHEMAS}
      UNION ALL
      SELECT p.proowner, format('function %s', p.oid::regprocedure)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE ${USER_SCHEMAS}
      UNION ALL
      SELECT datdba, format('database %I', datname) FROM pg_database WHERE datname = current_database()
    )
    SELECT r.rolname AS role, bool_or(reachable.is_self) AS is_self, r.rolsuper, r.rolbypassrls, r.rolcreaterole,
           (SELECT array_agg(what ORDER BY what) FROM owned WHERE owned.owner = r.oid) AS owns
      FROM reachable JOIN pg_roles r ON r.oid = reachable.oid
     GROUP BY r.oid, r.rolname, r.rolsuper, r.rolbypassrls, r.rolcreaterole
     ORDER BY is_self DESC, role`);

  const problems: string[] = [];
  const self = rows.find((row) => row.is_self)?.role ?? 'current role';
  for (const row of rows) {
    const flaws = [
      row.rolsuper && 'is a superuser',
      row.rolbypassrls && 'has BYPASSRLS',
      row.rolcreaterole && 'has CREATEROLE',
      row.owns && `owns ${summarise(row.owns)}`,
    ].filter((flaw): flaw is string => typeof flaw === 'string');
    if (flaws.length === 0) continue;
    // Attributes are not inherited, but membership allows SET ROLE, which is as good.
    const subject = row.is_self ? `role ${row.role}:` : `role ${self}: member of role ${row.role}, which`;
    problems.push(`${subject} ${flaws.join(', ')}`);
  }
  return problems;
}

function summarise(items: string[]): string {
  return items.length <= 3
    ? items.join(', ')
    : `${items.slice(0, 3).join(', ')} and ${items.length - 3} more`;
}

/**
 * Doors around the policies: definer functions, owner-rights views, CREATE rights; and
 * counters shared by every tenant, whose values tell one tenant how much the others write.
 */
async function checkOtherObjects(client: pg.Client, subject: string): Promise<string[]> {
  const { rows } = await client.query<{ problem: string }>(
    `
    SELECT format('%s: SECURITY DEFINER without a pinned search_path', p.oid::regprocedure) AS problem
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE p.prosecdef AND ${USER_SCHEMAS}
       AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) AS c WHERE c LIKE 'search_path=%')
    UNION ALL
    -- It runs with its owner's rights and may write: the serving role must not reach one
    -- (STABLE helpers such as app.current_tenant_id() are fine).
    SELECT format('%s: VOLATILE SECURITY DEFINER, executable by %s', p.oid::regprocedure, $1::text)
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE p.prosecdef AND p.provolatile = 'v' AND ${USER_SCHEMAS}
       AND has_function_privilege(p.oid, 'EXECUTE')
    UNION ALL
    SELECT format('%I.%I.%I: ids from a sequence every tenant shares', n.nspname, c.relname, a.attname)
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE c.relkind IN ('r', 'p') AND ${USER_SCHEMAS} AND a.attnum > 0 AND NOT a.attisdropped
       AND EXISTS (SELECT 1 FROM pg_attribute t WHERE t.attrelid = c.oid AND t.attname = 'tenant_id'
                                                  AND NOT t.attisdropped)
       AND (a.attidentity <> '' OR pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%')
    UNION ALL
    -- CASE: has_sequence_privilege errors on anything but a sequence, whatever the plan.
    SELECT format('%I.%I: sequence %s can read or advance', n.nspname, c.relname, $1::text)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE ${USER_SCHEMAS}
       AND CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(c.oid, 'SELECT, UPDATE, USAGE') END
    UNION ALL
    -- A view applies its owner's rights and policies, not the caller's, unless security_invoker is set.
    SELECT format('%I.%I: readable %s without security_invoker', n.nspname, c.relname,
                  CASE c.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('v', 'm') AND ${USER_SCHEMAS} AND has_table_privilege(c.oid, 'SELECT')
       AND (c.relkind = 'm' OR NOT EXISTS (SELECT 1 FROM unnest(c.reloptions) AS o
                                           WHERE o ~* '^security_invoker=(true|on|yes|1)$'))
    UNION ALL
    SELECT format('schema %I: %s may CREATE in it', n.nspname, $1::text)
      FROM pg_namespace n WHERE ${USER_SCHEMAS} AND has_schema_privilege(n.oid, 'CREATE')
    UNION ALL
    SELECT format('database %I: %s may CREATE schemas in it', current_database(), $1::text)
     WHERE has_database_privilege(current_database(), 'CREATE')
    ORDER BY 1`,
    [subject],
  );
  return rows.map((row) => row.problem);
}
