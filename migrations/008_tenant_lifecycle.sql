-- Tenant lifecycle (SPEC §11). A purged tenant's row stays as a tombstone, so its id is not
-- silently reused; every lifecycle command leaves a record of who ran it.
ALTER TABLE app.tenants ADD COLUMN purged_at timestamptz;

-- About tenants, not of one: its column is `tenant`, not `tenant_id`, so it is no tenant table
-- (export, import, move and purge take the tables with `tenant_id` from the catalog, and a
-- purge must keep this record). Written by the lifecycle commands as the owner or a superuser,
-- read by the admin role; the runtime role has no grant on it at all.
CREATE TABLE app.lifecycle_events (
  -- No sequence: a sequence readable anywhere is a shared counter (SPEC §5), and none is needed.
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant integer NOT NULL REFERENCES app.tenants (id),
  command text NOT NULL CHECK (command IN ('provision', 'export', 'import', 'move', 'purge')),
  -- Who ran it: the operating-system user and host of the command, and the database role.
  actor text NOT NULL,
  detail jsonb NOT NULL DEFAULT '{}',
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lifecycle_events_tenant ON app.lifecycle_events (tenant, at DESC);
ALTER TABLE app.lifecycle_events ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

DO $$
BEGIN
  EXECUTE format('CREATE POLICY lifecycle_owner ON app.lifecycle_events FOR ALL TO %I USING (true) WITH CHECK (true)',
    current_database() || '_owner');
  EXECUTE format('GRANT SELECT ON app.lifecycle_events TO %I', current_database() || '_admin');
END
$$;
