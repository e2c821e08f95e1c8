-- API keys and the audit log: both tenant tables, under the same recipe as 002_core.sql.

-- An API key is `tql_<prefix>_<secret>`. The prefix is public (it finds the row, and
-- operators may show it); the secret is 32 random bytes, stored only as their SHA-256.
-- A fast hash is enough here: bcrypt/argon2 slow down guessing of low-entropy human
-- passwords, but a 256-bit random secret cannot be guessed from its hash at any speed, and
-- a slow hash would only add latency to every request that presents a key.
CREATE TABLE app.api_keys (
  tenant_id integer NOT NULL REFERENCES app.tenants (id),
  id bigint GENERATED ALWAYS AS IDENTITY,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  prefix text NOT NULL CHECK (prefix ~ '^[0-9a-f]{12}$'),
  secret_hash bytea NOT NULL CHECK (octet_length(secret_hash) = 32),
  -- Who created it (app.user_id of the creating request), for the operator's benefit.
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);
-- Unique per tenant, not globally: a global index would let one tenant learn, by a
-- collision, that another tenant holds a prefix. Lookups run inside the tenant's RLS scope.
CREATE UNIQUE INDEX api_keys_tenant_prefix_key ON app.api_keys (tenant_id, prefix);
SELECT app.make_tenant_scoped('app.api_keys');

-- One row per successful mutation field, written in the mutation's own transaction.
CREATE TABLE app.audit_log (
  tenant_id integer NOT NULL REFERENCES app.tenants (id),
  id bigint GENERATED ALWAYS AS IDENTITY,
  at timestamptz NOT NULL DEFAULT now(),
  -- The principal's subject: a user's `sub`, a service's `sub`, or `apikey:<id>`.
  subject text,
  principal_kind text NOT NULL CHECK (principal_kind IN ('USER', 'SERVICE', 'API_KEY', 'ANONYMOUS')),
  -- The virtual tenant acting through a service token; NULL otherwise. Tenants are never
  -- deleted (only marked removed), so this plain key cannot dangle.
  actor_tenant_id integer REFERENCES app.tenants (id),
  operation text NOT NULL,
  -- The global id of the object the mutation touched, when there is one.
  entity_id text,
  PRIMARY KEY (tenant_id, id)
);
SELECT app.make_tenant_scoped('app.audit_log');

-- Append-only for the runtime role: a request (or a bug, or an injected statement) may add
-- to the log but never rewrite or erase it. make_tenant_scoped granted full DML.
DO $$
BEGIN
  EXECUTE format('REVOKE UPDATE, DELETE ON app.audit_log FROM %I', current_database() || '_app');
END
$$;
