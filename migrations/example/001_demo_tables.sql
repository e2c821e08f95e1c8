-- The demo product's tables: members, projects, tasks. Every key and index leads with
-- tenant_id (RLS filters on it first), and every reference is a composite (tenant_id, x_id)
-- foreign key: foreign key checks bypass row security, so only the key itself stops a row
-- pointing into another tenant. Ids are numbered per tenant (app.use_tenant_row_ids).
--
-- A database migrated before the demo left tenantql's own migrations has these tables
-- already (tenantql's 002 and 004 made them, in this same shape): then there is nothing to do.
DO $$
BEGIN
  IF to_regclass('app.members') IS NOT NULL THEN
    RETURN;
  END IF;

  CREATE TABLE app.members (
    tenant_id integer NOT NULL REFERENCES app.tenants (id),
    id bigint NOT NULL,
    name text NOT NULL,
    -- Stored as given; uniqueness ignores case (index below).
    email text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
  );
  -- Per tenant, so a duplicate in another tenant is neither an error nor an existence oracle.
  CREATE UNIQUE INDEX members_tenant_id_lower_email_key ON app.members (tenant_id, lower(email));
  PERFORM app.make_tenant_scoped('app.members');
  PERFORM app.use_tenant_row_ids('app.members');

  CREATE TABLE app.projects (
    tenant_id integer NOT NULL REFERENCES app.tenants (id),
    id bigint NOT NULL,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
  );
  PERFORM app.make_tenant_scoped('app.projects');
  PERFORM app.use_tenant_row_ids('app.projects');

  CREATE TABLE app.tasks (
    tenant_id integer NOT NULL REFERENCES app.tenants (id),
    id bigint NOT NULL,
    project_id bigint NOT NULL,
    title text NOT NULL,
    status text NOT NULL DEFAULT 'TODO' CHECK (status IN ('TODO', 'IN_PROGRESS', 'DONE')),
    assignee_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES app.projects (tenant_id, id) ON DELETE CASCADE,
    -- Only assignee_id is cleared when the member goes (PostgreSQL 15+): tenant_id is NOT NULL.
    FOREIGN KEY (tenant_id, assignee_id) REFERENCES app.members (tenant_id, id) ON DELETE SET NULL (assignee_id)
  );
  CREATE INDEX tasks_tenant_project_idx ON app.tasks (tenant_id, project_id, id);
  CREATE INDEX tasks_tenant_project_status_idx ON app.tasks (tenant_id, project_id, status, id);
  CREATE INDEX tasks_tenant_assignee_idx ON app.tasks (tenant_id, assignee_id, id);
  PERFORM app.make_tenant_scoped('app.tasks');
  PERFORM app.use_tenant_row_ids('app.tasks');
END
$$;
