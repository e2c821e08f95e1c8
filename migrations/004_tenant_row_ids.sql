-- Per-tenant row ids (SPEC §5, security catalogue A15/G5). Identity columns drew every
-- tenant's ids from one sequence per table, so the gap between two of a tenant's ids told it
-- how many rows all other tenants had created in between. Now each tenant numbers its own
-- rows from one counter, and no sequence is left for anyone to read. (Released converting the
-- demo's tables too; they are the demo's own migrations' business now: see 002.)

CREATE TABLE app.tenant_row_ids (
  tenant_id integer PRIMARY KEY REFERENCES app.tenants (id),
  -- The last id handed out to any of the tenant's tables (API keys, audit log, a product's).
  last_id bigint NOT NULL CHECK (last_id > 0)
-- Every write updates a row here: room on its page keeps those updates HOT, and the table no
-- longer looks small enough to the planner to scan whole instead of using the key.
) WITH (fillfactor = 10);
SELECT app.make_tenant_scoped('app.tenant_row_ids');

-- The counter only ever moves forward; a request has no business deleting it.
DO $$
BEGIN
  EXECUTE format('REVOKE DELETE ON app.tenant_row_ids FROM %I', current_database() || '_app');
END
$$;

-- Every write of a tenant locks its counter before any row lock (its own, or a foreign key's
-- KEY SHARE): an INSERT when its first row takes an id, an UPDATE or DELETE before it touches
-- any row. So a tenant's writing transactions queue on this one lock in one order and cannot
-- deadlock on it, and since it is held to commit, ids are handed out in commit order: a
-- keyset page (`id > after`) never skips a row that commits later. Other tenants never wait
-- on it. All three functions are SECURITY INVOKER (the default): they run under the writer's
-- own RLS scope, and need no EXECUTE grant (triggers do not check it). They pin no search_path
-- (a SET clause costs a settings save and restore on every row): every relation is
-- schema-qualified, and functions and operators resolve in pg_catalog, which is searched first.

-- NEW.id, when not given, from the row's tenant counter; a given id is kept (see below).
CREATE FUNCTION app.assign_tenant_row_id() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF NEW.id IS NULL THEN
    UPDATE app.tenant_row_ids SET last_id = last_id + 1 WHERE tenant_id = NEW.tenant_id
    RETURNING last_id INTO NEW.id;
    IF NOT FOUND THEN -- the tenant's first row
      INSERT INTO app.tenant_row_ids AS c (tenant_id, last_id) VALUES (NEW.tenant_id, 1)
      ON CONFLICT (tenant_id) DO UPDATE SET last_id = c.last_id + 1
      RETURNING c.last_id INTO NEW.id;
    END IF;
  ELSE
    PERFORM 1 FROM app.tenant_row_ids WHERE tenant_id = NEW.tenant_id FOR UPDATE;
    -- Tells advance_tenant_row_ids (below) that this transaction gave ids of its own.
    PERFORM set_config('app.row_ids_given', 'on', true);
  END IF;
  RETURN NEW;
END
$$;

-- A tenant without a counter has no rows, so there is nothing to lock for.
CREATE FUNCTION app.lock_tenant_row_ids() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM 1 FROM app.tenant_row_ids WHERE tenant_id = (SELECT app.current_tenant_id()) FOR UPDATE;
  RETURN NULL;
END
$$;

-- Ids given explicitly (an import that keeps its ids, a bulk load): once per statement, not
-- per row, the counters move past them so later rows cannot collide. (Each counter update
-- adds a row version that later updates in the same transaction must step over, so one
-- update per row makes a bulk insert quadratic: bulk loads should give their ids.)
CREATE FUNCTION app.advance_tenant_row_ids() RETURNS trigger
LANGUAGE plpgsql
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
      SELECT max(id) AS id FROM app.api_keys
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
  FOREACH tbl IN ARRAY ARRAY['app.api_keys', 'app.audit_log']::regclass[]
  LOOP
    EXECUTE format('ALTER TABLE %s ALTER COLUMN id DROP IDENTITY', tbl);
    EXECUTE format(
      'CREATE TRIGGER assign_tenant_row_id BEFORE INSERT ON %s'
      ' FOR EACH ROW EXECUTE FUNCTION app.assign_tenant_row_id()', tbl);
    EXECUTE format(
      'CREATE TRIGGER lock_tenant_row_ids BEFORE UPDATE OR DELETE ON %s'
      ' FOR EACH STATEMENT EXECUTE FUNCTION app.lock_tenant_row_ids()', tbl);
    -- The WHEN keeps requests, which never give ids, from paying for the statement.
    EXECUTE format(
      'CREATE TRIGGER advance_tenant_row_ids AFTER INSERT ON %s REFERENCING NEW TABLE AS inserted'
      ' FOR EACH STATEMENT WHEN (current_setting(''app.row_ids_given'', true) = ''on'')'
      ' EXECUTE FUNCTION app.advance_tenant_row_ids()', tbl);
  END LOOP;
END
$$;
