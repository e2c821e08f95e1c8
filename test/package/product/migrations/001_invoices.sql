-- The product's own tenant tables, applied after tenantql's migrations. Every key leads with
-- tenant_id and every reference is a composite (tenant_id, x_id) foreign key, as in tenantql's
-- own tables: foreign key checks bypass row security, so only the key stops a reference into
-- another tenant. Ids come from each tenant's own counter (app.use_tenant_row_ids).

CREATE TABLE app.customers (
  tenant_id integer NOT NULL REFERENCES app.tenants (id),
  -- Filled by the BEFORE INSERT trigger of app.use_tenant_row_ids, before NOT NULL is checked.
  id bigint NOT NULL,
  name text NOT NULL,
  -- Encrypted in the server with the tenant's key (defineEncryptedColumn): a `tq1:` ciphertext.
  tax_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
SELECT app.make_tenant_scoped('app.customers');
SELECT app.use_tenant_row_ids('app.customers');

CREATE TABLE app.invoices (
  tenant_id integer NOT NULL REFERENCES app.tenants (id),
  id bigint NOT NULL,
  customer_id bigint NOT NULL,
  amount_cents integer NOT NULL CHECK (amount_cents >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES app.customers (tenant_id, id)
);
CREATE INDEX invoices_tenant_customer_idx ON app.invoices (tenant_id, customer_id, id);
SELECT app.make_tenant_scoped('app.invoices');
SELECT app.use_tenant_row_ids('app.invoices');
