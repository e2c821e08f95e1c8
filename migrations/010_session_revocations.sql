-- revokeSessions (SPEC §6 "Revocation before expiry"): the user tokens of `subject` in the tenant
-- issued up to `revoked_at` (their `iat` at or before it, or no `iat`) answer 401. PostgreSQL is
-- the authority: every instance reads a tenant's rows, under its row security, when it first
-- serves the tenant and again every few seconds; Valkey only carries the news that one changed
-- (auth/session-revocations.ts).
--
-- One row per subject: a later revocation covers every token an earlier one did, so it replaces
-- it. A row may go once every token it covers has expired, which JWT_MAX_TTL_SECONDS bounds:
-- revokeSessions deletes the tenant's rows older than that, so the table holds at most the
-- subjects revoked within one maximum token lifetime.
CREATE TABLE app.session_revocations (
  tenant_id integer NOT NULL REFERENCES app.tenants (id),
  subject text NOT NULL CHECK (subject <> ''),
  revoked_at timestamptz NOT NULL,
  -- Who revoked them (app.user_id of the revoking request), for the operator's benefit.
  revoked_by text,
  PRIMARY KEY (tenant_id, subject)
);
SELECT app.make_tenant_scoped('app.session_revocations');
