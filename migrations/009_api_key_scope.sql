-- An API key's scope (SPEC §6 "Roles inside a tenant"): READ keys only read, WRITE keys also
-- write. Fixed at creation; keys issued before scopes existed could write, so they stay WRITE.
-- A column of a table that is already tenant scoped: its forced row security and tenant policy
-- cover the new column as they cover the others, and nothing here loosens them.
ALTER TABLE app.api_keys
  ADD COLUMN scope text NOT NULL DEFAULT 'WRITE' CHECK (scope IN ('READ', 'WRITE'));

-- The runtime role may set the scope when it inserts a key, never change it afterwards: a READ
-- key cannot be turned into a WRITE key by an UPDATE, by a bug or an injected statement. (Its
-- UPDATE grant is kept for revoked_at, the one column a revocation writes.)
DO $$
BEGIN
  EXECUTE format('REVOKE UPDATE ON app.api_keys FROM %I', current_database() || '_app');
  EXECUTE format('GRANT UPDATE (revoked_at) ON app.api_keys TO %I', current_database() || '_app');
END
$$;
