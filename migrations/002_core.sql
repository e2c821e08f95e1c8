-- Core tenant tables. Every key and index leads with tenant_id (RLS filters on it first),
-- and every reference is a composite (tenant_id, x_id) foreign key: foreign key checks
-- bypass row security, so only the key itself stops a row pointing into another tenant.
-- Ids come from identity columns, which need no sequence grant for the runtime role.

CREATE TABLE app.members (
  tenant_id integer NOT NULL REFERENCES app.tenants (id),
  id bigint GENERATED ALWAYS AS IDENTITY,
  name text NOT NULL,
  -- Stored as given; uniqueness ignores case (index below).
  email text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
-- Per tenant, so a duplicate in another tenant is neither an error nor an existence oracle.
CREATE UNIQUE INDEX members_tenant_id_lower_email_key ON app.members (tenant_id, lower(email));
SELECT app.make_tenant_scoped('app.members');

CREATE TABLE app.projects (
  tenant_id integer NOT NULL REFERENCES app.tenants (id),
  id bigint GENERATED ALWAYS AS IDENTITY,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
SELECT app.make_tenant_scoped('app.projects');

CREATE TABLE app.tasks (
  tenant_id integer NOT NULL REFERENCES app.tenants (id),
  id bigint GENERATED ALWAYS AS IDENTITY,
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
SELECT app.make_tenant_scoped('app.tasks');
