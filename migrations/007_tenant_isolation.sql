-- Where a tenant's rows live (SPEC §10): 'shared' (this database, under row security) or
-- 'database' (a database of its own, <db>_t<id>). Written only by `tenantql tenants provision`
-- (and `tenants move`), never by app.sync_tenants: the tenants file states the wish, this
-- column the fact, and the server refuses a file that disagrees with it.
ALTER TABLE app.tenants
  ADD COLUMN isolation text NOT NULL DEFAULT 'shared' CHECK (isolation IN ('shared', 'database'));
