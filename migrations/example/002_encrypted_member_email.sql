-- Member emails are encrypted in the server with the tenant's data key (SPEC §12): the column
-- holds `tq1:…` ciphertexts, different every time, so uniqueness moves to a keyed hash of the
-- normalised email (HMAC under a key derived from the tenant's data key), still per tenant.
-- Rows stored before have no hash yet: `tenantql keys encrypt-existing` encrypts and hashes them.
ALTER TABLE app.members ADD COLUMN email_hash bytea;
DROP INDEX IF EXISTS app.members_tenant_id_lower_email_key;
CREATE UNIQUE INDEX members_tenant_id_email_hash_key ON app.members (tenant_id, email_hash);
