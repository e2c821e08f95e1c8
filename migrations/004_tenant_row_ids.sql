-- Per-tenant row ids (SPEC §5, security catalogue A15/G5). Identity columns drew every
-- tenant's ids from one sequence per table, so the gap between two of a tenant's ids told it
-- how many rows all other tenants had created in between. Now each tenant numbers its own
-- rows from one counter, and no sequence is left for anyone to read.

CREATE TABLE app.tenant_row_ids (
  tenant_id integer PRIMARY KEY REFERENCES app.tenants (id),
  -- The last id handed out to any of the tenant's tables (members, projects, tasks, ...).
  last_id bigint NOT NULL CHECK (last_id >= 0)
);
SELECT app.make_tenant_scoped('app.tenant_row_ids');

-- The counter only ever moves forward; a request has no business deleting it.
DO $$
BEGIN
  EXECUTE format('REVOKE DELETE ON app.tenant_row_ids FROM %I', current_database() || '_app');
END
$$;

-- Before any row of a statement is touched, lock the session tenant's counter (creating it
-- first if need be). Every write of a tenant therefore takes this lock before any row lock
-- (its own, or a foreign key's KEY SHARE): a tenant's writing transactions queue here in one
-- order and cannot deadlock, and since the lock is held to commit, ids are handed out in
-- commit order, so a keyset page (`id > after`) never skips a row that commits later. Other
-- tenants never wait on it. All three functions are SECURITY INVOKER (the default): they run
-- under the writer's own RLS scope.
CREATE FUNCTION app.lock_tenant_row_ids() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tenant integer := (SELECT app.current_tenant_id());
BEGIN
  IF tenant IS NULL THEN
    RETURN NULL; -- the owner or a superuser loading data; row security stops anyone else
  END IF;
  PERFORM 1 FROM app.tenant_row_ids WHERE tenant_id = tenant FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO app.tenant_row_ids (tenant_id, last_id) VALUES (tenant, 0) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM app.tenant_row_ids WHERE tenant_id = tenant FOR UPDATE;
  END IF;
  RETURN NULL;
END
$$;

-- NEW.id, when not given, from the row's tenant counter.
CREATE FUNCTION app.assign_tenant_row_id() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NEW.id IS NULL THEN
    INSERT INTO app.tenant_row_ids AS c (tenant_id, last_id) VALUES (NEW.tenant_id, 1)
    ON CONFLICT (tenant_id) DO UPDATE SET last_id = c.last_id + 1
    RETURNING c.last_id INTO NEW.id;
  END IF;
  RETURN NEW;
END
$$;

-- Ids given explicitly (an import that keeps its ids, a bulk load) are kept; once per
-- statement, not per row, the counters move past them so later rows cannot collide. (Each
-- counter update adds a row version that later updates in the same transaction must step
-- over, so one update per row would make a bulk insert quadratic: give bulk loads their ids.)
CREATE FUNCTION app.advance_tenant_row_ids() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  INSERT INTO app.tenant_row_ids AS c (tenant_id, last_id)
  SELECT tenant_id, max(id) FROM inserted GROUP BY tenant_id
  ON CONFLICT (tenant_id) DO UPDATE SET last_id = excluded.last_id WHERE c.last_id < excluded.last_id;
  RETURN NULL;
END
$$;

-- Counters start past every id already used, read tenant by tenant under row security (the
-- owner is subject to it too: FORCE). Tenants without rows get their counter on first insert.
DO $$
DECLARE
  tenant integer;
BEGIN
  FOR tenant IN SELECT id FROM app.tenants LOOP
    PERFORM set_config('app.tenant_id', tenant::text, true);
    INSERT INTO app.tenant_row_ids (tenant_id, last_id)
    SELECT tenant, max(id) FROM (
      SELECT max(id) AS id FROM app.members
      UNION ALL SELECT max(id) FROM app.projects
      UNION ALL SELECT max(id) FROM app.tasks
      UNION ALL SELECT max(id) FROM app.api_keys
      UNION ALL SELECT max(id) FROM app.audit_log
    ) AS used
    HAVING max(id) IS NOT NULL;
  END LOOP;
  PERFORM set_config('app.tenant_id', '', true);
END
$$;

-- Every tenant table with an id: its identity (and sequence) gone, the three triggers in place.
DO $$
DECLARE
  tbl regclass;
BEGIN
  FOREACH tbl IN ARRAY ARRAY['app.members', 'app.projects', 'app.tasks', 'app.api_keys', 'app.audit_log']::regclass[]
  LOOP
    EXECUTE format('ALTER TABLE %s ALTER COLUMN id DROP IDENTITY', tbl);
    EXECUTE format(
      'CREATE TRIGGER lock_tenant_row_ids BEFORE INSERT OR UPDATE OR DELETE ON %s'
      ' FOR EACH STATEMENT EXECUTE FUNCTION app.lock_tenant_row_ids()', tbl);
    EXECUTE format(
      'CREATE TRIGGER assign_tenant_row_id BEFORE INSERT ON %s'
      ' FOR EACH ROW EXECUTE FUNCTION app.assign_tenant_row_id()', tbl);
    EXECUTE format(
      'CREATE TRIGGER advance_tenant_row_ids AFTER INSERT ON %s REFERENCING NEW TABLE AS inserted'
      ' FOR EACH STATEMENT EXECUTE FUNCTION app.advance_tenant_row_ids()', tbl);
  END LOOP;
END
$$;
