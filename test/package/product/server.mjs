// A product built on the tenantql package, as a team would write one: plain JavaScript run by
// plain `node`, importing only the package's public entry. Its types are Customer and Invoice
// over its own tenant tables (migrations/), and `node server.mjs <command>` is every tenantql
// command (start, migrate, db setup, db check, token, schema, ...) for this schema.
import { fileURLToPath } from 'node:url';
import {
  AUTHENTICATED,
  builder,
  connectionOf,
  createTenantQL,
  defineEncryptedColumn,
  defineLoader,
  defineTopic,
  encodeGlobalId,
  MEMBER,
  Node,
  notFound,
  pageFrom,
  registerNodeType,
  requiredText,
  rowId,
  rowIdOrNull,
  toConnection,
} from 'tenantql';

// Row security scopes every statement to the request's tenant: no query names a tenant_id to
// read, and the ids are the tenant's own row ids.
const CUSTOMER_COLUMNS = 'id, name, tax_id';

// Encrypted with the tenant's own key before it reaches PostgreSQL (SPEC §12).
const customerTaxId = defineEncryptedColumn({ table: 'app.customers', column: 'tax_id' });
const INVOICE_COLUMNS = 'id, customer_id, amount_cents, created_at';

const customerById = defineLoader(
  (db, ids) =>
    db.query({
      name: 'customers.byIds',
      text: `SELECT ${CUSTOMER_COLUMNS} FROM app.customers WHERE id = ANY($1::bigint[])`,
      values: [ids],
    }),
  (row) => row.id,
);

const invoiceById = defineLoader(
  (db, ids) =>
    db.query({
      name: 'invoices.byIds',
      text: `SELECT ${INVOICE_COLUMNS} FROM app.invoices WHERE id = ANY($1::bigint[])`,
      values: [ids],
    }),
  (row) => row.id,
);

// `table`: a foreign key into it that fails (a customer of another tenant, or none) answers
// NOT_FOUND "Customer not found." instead of a masked database error.
registerNodeType('Customer', (ctx, id) => customerById(ctx).load(id), { table: 'app.customers' });
registerNodeType('Invoice', (ctx, id) => invoiceById(ctx).load(id), { table: 'app.invoices' });

const Customer = builder.objectRef('Customer').implement({
  interfaces: [Node],
  fields: (t) => ({
    id: t.id({ resolve: (customer, _args, ctx) => encodeGlobalId('Customer', ctx.tenant.id, customer.id) }),
    name: t.exposeString('name'),
    taxId: t.string({
      nullable: true,
      resolve: (customer, _args, ctx) => customer.tax_id && customerTaxId.decrypt(ctx, customer.tax_id),
    }),
  }),
});

const Invoice = builder.objectRef('Invoice').implement({
  interfaces: [Node],
  fields: (t) => ({
    id: t.id({ resolve: (invoice, _args, ctx) => encodeGlobalId('Invoice', ctx.tenant.id, invoice.id) }),
    amountCents: t.int({ resolve: (invoice) => invoice.amount_cents }),
    createdAt: t.field({ type: 'DateTime', resolve: (invoice) => invoice.created_at }),
    customer: t.field({
      type: Customer,
      resolve: async (invoice, _args, ctx) => {
        // The composite foreign key keeps the customer in the invoice's tenant.
        const customer = await customerById(ctx).load(invoice.customer_id);
        if (!customer) throw notFound('Customer');
        return customer;
      },
    }),
  }),
});

const InvoiceConnection = connectionOf('Invoice', Invoice);

// Events carry ids only; each subscriber reads the invoice in its own transaction, under RLS.
const ROW_ID = /^[1-9][0-9]{0,17}$/;
defineTopic('invoices', (message) =>
  typeof message.invoiceId === 'string' && ROW_ID.test(message.invoiceId)
    ? { invoiceId: message.invoiceId }
    : undefined,
);

builder.subscriptionField('invoiceCreated', (t) =>
  t.field({
    type: Invoice,
    nullable: true,
    authScopes: AUTHENTICATED,
    subscribe: (_root, _args, ctx) => ctx.events.subscribe(ctx.tenant.id, 'invoices'),
    resolve: (event, _args, ctx) => invoiceById(ctx).load(event.invoiceId),
  }),
);

builder.queryFields((t) => ({
  invoices: t.field({
    type: InvoiceConnection,
    authScopes: AUTHENTICATED,
    args: { first: t.arg.int(), after: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      const page = pageFrom(args);
      const rows = await ctx.db.query({
        name: 'invoices.list',
        text: `SELECT ${INVOICE_COLUMNS} FROM app.invoices
                WHERE id > coalesce($1::bigint, 0) ORDER BY id LIMIT $2`,
        values: [page.afterId, page.limit + 1],
      });
      return toConnection(rows, page, async () => {
        const [row] = await ctx.db.query({
          name: 'invoices.count',
          text: 'SELECT count(*)::int AS n FROM app.invoices',
        });
        return row.n;
      });
    },
  }),
  invoice: t.field({
    type: Invoice,
    nullable: true,
    authScopes: AUTHENTICATED,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => {
      // Another tenant's id, or a malformed one, reads like an invoice that does not exist.
      const id = rowIdOrNull(args.id, 'Invoice', ctx.tenant.id);
      return id ? invoiceById(ctx).load(id) : null;
    },
  }),
}));

const CreateCustomerInput = builder.inputType('CreateCustomerInput', {
  fields: (t) => ({ name: t.string({ required: true }), taxId: t.string() }),
});
const CreateInvoiceInput = builder.inputType('CreateInvoiceInput', {
  fields: (t) => ({ customerId: t.id({ required: true }), amountCents: t.int({ required: true }) }),
});

builder.mutationFields((t) => ({
  createCustomer: t.field({
    type: Customer,
    authScopes: MEMBER, // writes: the member role and up (not a viewer, not a READ key)
    args: { input: t.arg({ type: CreateCustomerInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const taxId = input.taxId ? await customerTaxId.encrypt(ctx, input.taxId) : null;
      const [row] = await ctx.db.query({
        text: `INSERT INTO app.customers (tenant_id, name, tax_id) VALUES ($1, $2, $3) RETURNING ${CUSTOMER_COLUMNS}`,
        values: [ctx.tenant.id, requiredText(input.name, 'name'), taxId],
      });
      return row;
    },
  }),
  createInvoice: t.field({
    type: Invoice,
    authScopes: MEMBER,
    args: { input: t.arg({ type: CreateInvoiceInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const [row] = await ctx.db.query({
        text: `INSERT INTO app.invoices (tenant_id, customer_id, amount_cents) VALUES ($1, $2, $3)
               RETURNING ${INVOICE_COLUMNS}`,
        values: [ctx.tenant.id, rowId(input.customerId, 'Customer', ctx.tenant.id), input.amountCents],
      });
      // Sent once the transaction has committed; never for a rolled-back one.
      const tenantId = ctx.tenant.id;
      ctx.db.afterCommit(() => ctx.events.publish(tenantId, 'invoices', { invoiceId: row.id }));
      return row;
    },
  }),
}));

process.exitCode = await createTenantQL({
  schema: builder.toSchema(),
  migrations: fileURLToPath(new URL('./migrations/', import.meta.url)),
  encryptedColumns: [customerTaxId],
}).main(process.argv.slice(2));
