-- app.sync_tenants (SECURITY DEFINER) rewrites the tenant registry, so the role that serves
-- tenant traffic must not reach it (catalogue A10, G9): the server syncs through the admin
-- role, which serves only the system host, or as the owner. `tenantql db check` fails if the
-- runtime role can execute any volatile SECURITY DEFINER function.
DO $$
BEGIN
  EXECUTE format('REVOKE EXECUTE ON FUNCTION app.sync_tenants(jsonb) FROM %I', current_database() || '_app');
END
$$;
