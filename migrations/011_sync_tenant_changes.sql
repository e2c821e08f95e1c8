-- A reload syncs only what changed in the tenants file (src/db/tenants-sync.ts): the tenants
-- whose row differs or is new, and the ids that left the file. app.sync_tenants upserts every
-- entry and anti-joins the table against them, which for 10,000 tenants costs PostgreSQL about
-- 0.1–0.2 s of CPU on every SIGHUP; this costs what changed. Start-up still syncs the whole set.
-- Same rules as app.sync_tenants: deletes nothing, not for the runtime role.
CREATE FUNCTION app.sync_tenant_changes(changed jsonb, removed integer[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF jsonb_typeof(changed) IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'app.sync_tenant_changes expects a JSON array' USING ERRCODE = 'invalid_parameter_value';
  END IF;

  INSERT INTO app.tenants AS t (id, subdomain, name, kind, disabled, removed_at)
  SELECT e.id, e.subdomain, e.name, e.kind, coalesce(e.disabled, false), NULL
  FROM jsonb_to_recordset(changed) AS e(id integer, subdomain text, name text, kind text, disabled boolean)
  ON CONFLICT (id) DO UPDATE
    SET subdomain = excluded.subdomain, name = excluded.name, kind = excluded.kind,
        disabled = excluded.disabled, removed_at = NULL, updated_at = now()
    WHERE (t.subdomain, t.name, t.kind, t.disabled, t.removed_at)
      IS DISTINCT FROM (excluded.subdomain, excluded.name, excluded.kind, excluded.disabled, NULL::timestamptz);

  UPDATE app.tenants AS t SET removed_at = now(), updated_at = now()
  WHERE t.removed_at IS NULL AND t.id = ANY (removed);
END
$$;

REVOKE ALL ON FUNCTION app.sync_tenant_changes(jsonb, integer[]) FROM PUBLIC;

DO $$
BEGIN
  EXECUTE format('GRANT EXECUTE ON FUNCTION app.sync_tenant_changes(jsonb, integer[]) TO %I',
    current_database() || '_admin');
END
$$;
