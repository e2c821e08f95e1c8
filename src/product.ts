import { GraphQLSchema, validateSchema } from 'graphql';
import type { EncryptedColumn, EncryptionScope } from './crypto/field-encryption.js';
import type { Db } from './db/queries/rows.js';
import type { Tenant } from './tenancy/tenants-file.js';

/**
 * What a team builds on tenantql: its GraphQL schema (the builder's types plus its own) and
 * its tenant tables' migrations. tenantql brings the rest: Host tenancy, the request
 * transaction under row-level security, tokens and API keys, the cache, limits, events,
 * reload and the commands (createTenantQL, in tenantql.ts). The demo (src/example/) is one.
 */
export interface Product {
  /** The schema of tenant hosts: `builder.toSchema()` once the product's types are registered. */
  readonly schema: GraphQLSchema;
  /**
   * The system tenant's host schema, when the product adds to it (`adminBuilder`, e.g. fields
   * on `TenantSummary`); by default tenantql's own.
   */
  readonly adminSchema?: GraphQLSchema;
  /**
   * A folder of `*.sql` migrations (absolute path), applied after tenantql's own with the same
   * checksum and lock rules, and recorded as `product/<file>`.
   */
  readonly migrations?: string;
  /**
   * Sample data for `tenantql start` without DATABASE_URL (the embedded development database),
   * run once per start. `write` runs `work` in one transaction as the tenant, under RLS.
   */
  /**
   * The product's encrypted columns (`defineEncryptedColumn`): `tenants import` re-encrypts them
   * into another tenant's key, and `keys encrypt-existing` encrypts their rows stored before.
   */
  readonly encryptedColumns?: readonly EncryptedColumn[];
  readonly seed?: (tenants: readonly Tenant[], write: WriteAsTenant) => Promise<void>;
}

/** `work` gets the tenant's transaction and its field encryption (SPEC §12), as a request would. */
export type WriteAsTenant = (
  tenantId: number,
  work: (db: Db, scope: EncryptionScope) => Promise<void>,
) => Promise<void>;

/** A product, or how to load it: commands that need no schema (`--help`, `db setup`) never do. */
export type ProductSource = Product | (() => Promise<Product>);

/** Loads the product once, on first use, and checks its schema. */
export function productLoader(source: ProductSource): () => Promise<Product> {
  let loaded: Promise<Product> | undefined;
  return () => {
    loaded ??= (typeof source === 'function' ? source() : Promise.resolve(source)).then(servable);
    return loaded;
  };
}

/**
 * The product with a schema every request can use. The builder declares Mutation and
 * Subscription for products to extend; a product that adds no field to one gets it removed
 * rather than a schema that graphql refuses at the first request. Any other flaw fails here,
 * at start, with graphql's own words.
 */
function servable(product: Product): Product {
  const config = product.schema.toConfig();
  const empty = [config.mutation, config.subscription].filter(
    (root) => root && Object.keys(root.getFields()).length === 0,
  );
  const schema = empty.length
    ? new GraphQLSchema({
        ...config,
        mutation: empty.includes(config.mutation) ? undefined : config.mutation,
        subscription: empty.includes(config.subscription) ? undefined : config.subscription,
        types: config.types.filter((type) => !empty.includes(type as never)),
      })
    : product.schema;
  const problems = validateSchema(schema);
  if (problems.length) throw new Error(`invalid schema: ${problems.map((p) => p.message).join('; ')}`);
  return schema === product.schema ? product : { ...product, schema };
}
