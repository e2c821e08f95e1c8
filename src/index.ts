/**
 * tenantql as a library: what a team imports to build its own product on it (the demo in
 * src/example/ is built on exactly this). The README's "Build your own product" walks through it.
 *
 * - `builder`: the Pothos schema builder, with the tenant context, auth scopes (`AUTHENTICATED`,
 *   `MEMBER`, `ADMIN`, `ADMIN_USER`: what each role, key scope and service may do), the DateTime
 *   scalar, the Node interface and node(id), viewer, tenant, API keys and the audit log already
 *   on it. A product adds its types and calls `builder.toSchema()`.
 * - helpers for global ids, pages and connections, input checks and errors;
 * - `defineLoader`: per-request DataLoaders declared next to the type that uses them;
 * - `tableField`: what a field of a table-backed type reads, for the fast path's SQL;
 * - `defineTopic`: the product's own subscription events (ids only, per tenant);
 * - `adminBuilder`, `TenantSummary`: what the system host shows of the product per tenant;
 * - `createTenantQL({ schema, adminSchema, migrations, seed })`: every tenantql command,
 *   serving that product.
 *
 * Adding or removing an export changes the contract: test/unit/public-api.test.ts lists them.
 */
export type { Principal } from './auth/principal.js';
export type { ApiKeyScope, Role } from './auth/roles.js';
export {
  defineTopic,
  type Topic,
  type TopicCheck,
  type TopicMessage,
  type Topics,
} from './cache/keyspace.js';
export type { Context } from './context.js';
export {
  defineEncryptedColumn,
  type EncryptedColumn,
  type EncryptedColumnOptions,
  type EncryptionScope,
  type FieldEncryption,
} from './crypto/field-encryption.js';
export type { Db, Page } from './db/queries/rows.js';
export { registerUniqueMessage } from './db/sql-errors.js';
export { AppError, badUserInput, forbidden, notFound } from './errors.js';
export {
  type AdminContext,
  type AdminDb,
  adminBuilder,
  adminConnectionOf,
  readAcrossTiers,
  TenantSummary,
} from './graphql/admin/index.js';
export {
  type ConnectionShape,
  decodeGlobalId,
  encodeGlobalId,
  pageFrom,
  toConnection,
} from './graphql/ids.js';
export { ADMIN, ADMIN_USER, AUTHENTICATED, builder, MEMBER } from './graphql/index.js';
export { email, optionalText, requiredText, rowId, rowIdOrNull } from './graphql/inputs.js';
export {
  byKeys,
  defineLoader,
  defineLoaderFamily,
  groupByKeys,
  RequestLoaders,
  type WithLoaders,
} from './graphql/request-loaders.js';
export { type TableFieldSpec, tableField } from './graphql/table-fields.js';
export { connectionOf } from './graphql/types/connection.js';
export { Node, type NodeShape, type NodeTypeOptions, registerNodeType } from './graphql/types/node.js';
export type { Product, ProductSource, WriteAsTenant } from './product.js';
export type { Tenant } from './tenancy/tenants-file.js';
export { createTenantQL, type TenantQL } from './tenantql.js';
