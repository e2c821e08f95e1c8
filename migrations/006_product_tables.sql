-- For a product's own tenant tables (migrations in its own folder, applied after these): the
-- per-tenant id triggers of 004, installed by one call instead of copied by hand. The table
-- needs `tenant_id integer not null` and `id bigint` (NOT NULL is fine: the BEFORE INSERT
-- trigger fills it before the constraint is checked), and should be made tenant-scoped first:
--   SELECT app.make_tenant_scoped('app.invoices');
--   SELECT app.use_tenant_row_ids('app.invoices');
CREATE FUNCTION app.use_tenant_row_ids(tbl regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_attribute
    WHERE attrelid = tbl AND attname = 'id' AND atttypid = 'bigint'::regtype AND NOT attisdropped
  ) THEN
    RAISE EXCEPTION '%: tenant row ids need an "id bigint" column', tbl;
  END IF;
  EXECUTE format(
    'CREATE TRIGGER assign_tenant_row_id BEFORE INSERT ON %s'
    ' FOR EACH ROW EXECUTE FUNCTION app.assign_tenant_row_id()', tbl);
  EXECUTE format(
    'CREATE TRIGGER lock_tenant_row_ids BEFORE UPDATE OR DELETE ON %s'
    ' FOR EACH STATEMENT EXECUTE FUNCTION app.lock_tenant_row_ids()', tbl);
  EXECUTE format(
    'CREATE TRIGGER advance_tenant_row_ids AFTER INSERT ON %s REFERENCING NEW TABLE AS inserted'
    ' FOR EACH STATEMENT WHEN (current_setting(''app.row_ids_given'', true) = ''on'')'
    ' EXECUTE FUNCTION app.advance_tenant_row_ids()', tbl);
END
$$;
REVOKE ALL ON FUNCTION app.use_tenant_row_ids(regclass) FROM PUBLIC;
