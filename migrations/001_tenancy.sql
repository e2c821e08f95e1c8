-- Tenancy primitives. Runs as the owner role (<db>_owner), which owns everything here.
-- Role names are derived from the database name so one cluster can host several
-- tenantql databases (and test runs) without their roles colliding.

CREATE SCHEMA IF NOT EXISTS app;
REVOKE ALL ON SCHEMA app FROM PUBLIC;

-- Functions the owner creates from now on are not executable by PUBLIC (PostgreSQL's
-- default): a SECURITY DEFINER added later must be granted on purpose, never by accident.
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

DO $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA app TO %I, %I', current_database() || '_app', current_database() || '_admin');
END
$$;

-- The session's tenant, or NULL. A pooled connection that once ran `set_config(..., true)`
-- reads '' afterwards, and a fresh one reads NULL: both, and anything that is not a
-- canonical positive int4 ('abc', '1 ', '-1', '2;3', '007'), give NULL, which equals no
-- tenant_id. Never a default: a cast of '' to 0 or 1 would make tenant 1 (system) reachable.
-- Policies call it as (SELECT app.current_tenant_id()), once per statement, so the
-- pinned search_path (which rules out inlining) costs nothing there.
CREATE FUNCTION app.current_tenant_id() RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN s ~ '^[1-9][0-9]{0,9}$' THEN
    -- Nested CASE: the bigint cast must only ever see digits.
    CASE WHEN s::bigint <= 2147483647 THEN s::integer END
  END
  FROM (SELECT current_setting('app.tenant_id', true) AS s) AS setting
$$;

-- The virtual tenant acting through a service token (SPEC §6), or NULL; same rules.
CREATE FUNCTION app.current_actor_tenant_id() RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN s ~ '^[1-9][0-9]{0,9}$' THEN
    CASE WHEN s::bigint <= 2147483647 THEN s::integer END
  END
  FROM (SELECT current_setting('app.actor_tenant_id', true) AS s) AS setting
$$;

CREATE FUNCTION app.current_user_id() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT nullif(current_setting('app.user_id', true), '')
$$;

-- One call makes a table tenant-scoped, so a new table cannot get half of the recipe.
-- Not SECURITY DEFINER: only the table's owner can run the ALTERs anyway.
CREATE FUNCTION app.make_tenant_scoped(tbl regclass) RETURNS void
LANGUAGE plpgsql
-- With pg_catalog alone on the path, %s of a regclass prints the schema-qualified name.
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_attribute
    WHERE attrelid = tbl AND attname = 'tenant_id' AND atttypid = 'integer'::regtype
      AND attnotnull AND NOT attisdropped
  ) THEN
    RAISE EXCEPTION '%: a tenant table needs a "tenant_id integer not null" column', tbl;
  END IF;
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
  -- (SELECT ...) turns the call into an InitPlan: evaluated once per statement, and the
  -- comparison stays usable as an index condition on the tenant-leading indexes.
  EXECUTE format(
    'CREATE POLICY tenant_isolation ON %s FOR ALL'
    ' USING (tenant_id = (SELECT app.current_tenant_id()))'
    ' WITH CHECK (tenant_id = (SELECT app.current_tenant_id()))', tbl);
  -- DML only: no TRUNCATE, REFERENCES or TRIGGER, which row security does not govern.
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %I', tbl, current_database() || '_app');
  EXECUTE format('GRANT SELECT ON %s TO %I', tbl, current_database() || '_admin');
END
$$;

CREATE TABLE app.tenants (
  id integer PRIMARY KEY CHECK (id BETWEEN 1 AND 2147483647),
  subdomain text NOT NULL,
  name text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('system', 'virtual', 'regular')),
  disabled boolean NOT NULL DEFAULT false,
  -- Set when the tenant leaves the tenants file; its data stays (SPEC §4).
  removed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE app.tenants ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
-- A tenant sees its own row only; the admin role (BYPASSRLS) sees all.
CREATE POLICY tenant_self ON app.tenants FOR SELECT USING (id = (SELECT app.current_tenant_id()));

DO $$
DECLARE
  owner_role text := current_database() || '_owner';
  runtime_role text := current_database() || '_app';
  admin_role text := current_database() || '_admin';
BEGIN
  -- FORCE applies the policies to the owner too; this one lets sync_tenants (run as the
  -- owner) write every row. Nobody else can write the table at all.
  EXECUTE format('CREATE POLICY tenants_sync ON app.tenants FOR ALL TO %I USING (true) WITH CHECK (true)', owner_role);
  EXECUTE format('GRANT SELECT ON app.tenants TO %I, %I', runtime_role, admin_role);
  EXECUTE format(
    'GRANT EXECUTE ON FUNCTION app.current_tenant_id(), app.current_actor_tenant_id(), app.current_user_id() TO %I, %I',
    runtime_role, admin_role);
END
$$;

-- Mirrors the tenants file into the table: upserts every entry (un-removing it) and marks
-- the others removed. Deletes nothing, so a tenant that comes back finds its data.
CREATE FUNCTION app.sync_tenants(tenants jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF jsonb_typeof(tenants) IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'app.sync_tenants expects a JSON array' USING ERRCODE = 'invalid_parameter_value';
  END IF;

  INSERT INTO app.tenants AS t (id, subdomain, name, kind, disabled, removed_at)
  SELECT e.id, e.subdomain, e.name, e.kind, coalesce(e.disabled, false), NULL
  FROM jsonb_to_recordset(tenants) AS e(id integer, subdomain text, name text, kind text, disabled boolean)
  ON CONFLICT (id) DO UPDATE
    SET subdomain = excluded.subdomain, name = excluded.name, kind = excluded.kind,
        disabled = excluded.disabled, removed_at = NULL, updated_at = now()
    -- Unchanged rows keep their updated_at, so it tells when a tenant last changed.
    WHERE (t.subdomain, t.name, t.kind, t.disabled, t.removed_at)
      IS DISTINCT FROM (excluded.subdomain, excluded.name, excluded.kind, excluded.disabled, NULL::timestamptz);

  UPDATE app.tenants AS t SET removed_at = now(), updated_at = now()
  WHERE t.removed_at IS NULL
    AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(tenants) AS e WHERE (e ->> 'id')::integer = t.id);
END
$$;

REVOKE ALL ON FUNCTION app.sync_tenants(jsonb), app.make_tenant_scoped(regclass) FROM PUBLIC;

DO $$
BEGIN
  EXECUTE format('GRANT EXECUTE ON FUNCTION app.sync_tenants(jsonb) TO %I, %I',
    current_database() || '_app', current_database() || '_admin');
END
$$;
