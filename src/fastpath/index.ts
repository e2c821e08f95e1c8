import type { DocumentNode, ExecutionArgs, ExecutionResult, GraphQLSchema } from 'graphql';
import type { Context } from '../context.js';
import type { Pool } from '../db/pool.js';
import type { Logger } from '../observability/logger.js';
import { type Catalog, catalogLoader } from './catalog.js';
import { compile, type TableOf } from './compile.js';
import type { Plan } from './plan.js';
import { run } from './run.js';
import { passes, type Scopes } from './scopes.js';

/**
 * The fast path for nested reads (docs/performance.md): a query over table-backed types is
 * compiled once per (document, operation) into a plan, and each request runs it as ONE SQL
 * statement that writes the whole response body, sent with BEGIN, the tenant settings and
 * COMMIT in one round trip. The body goes out as PostgreSQL wrote it: no rows in Node, no
 * resolvers, no JSON.stringify.
 *
 * It answers a request only when the answer is certain to be the resolvers' own, byte for
 * byte; otherwise the request takes the resolvers, whole (see compile.ts for what compiles).
 * Falling back is per request: an answer is either all SQL or all resolvers, never a mix,
 * so errors, null propagation and the transaction stay exactly as the resolvers make them.
 */
export interface FastPathOptions {
  /** The one schema served this way (the tenant schema); any other runs as usual. */
  readonly schema: GraphQLSchema;
  /** Where the catalog (column types) is read, once. */
  readonly pool: Pool;
  readonly logger: Logger;
  /** Where each table-backed type's rows are (graphql/types/node.ts). */
  readonly tableOf: TableOf;
  /** The request's scope-auth scopes, from the builder's own function. */
  readonly scopesOf: (ctx: Context) => Scopes | Promise<Scopes>;
  /**
   * Statements prepared once per connection (PG_PREPARED_STATEMENTS): their plans are kept.
   * Off, each request's statement carries its values as literals and is planned every time.
   */
  readonly prepared: boolean;
  /** Told how each operation went (tests count them). */
  readonly onOutcome?: (outcome: FastPathOutcome) => void;
}

/**
 * `answered` here; `declined`: answered by the resolvers (not compiled, or not this request);
 * `refused`: PostgreSQL would not prepare the statement (a bug: the text is not compiled again).
 */
export type FastPathOutcome = 'answered' | 'declined' | 'refused';

export interface FastPath {
  /** The result of `args`, from the fast path when it can answer, else from `fallback`. */
  execute<R>(args: ExecutionArgs, fallback: () => R | Promise<R>): Promise<R | ExecutionResult>;
  /** Why an operation is not compiled (undefined: it is); for tests and logs. */
  explain(document: DocumentNode, operationName?: string | null): Promise<string | undefined>;
}

export function createFastPath(options: FastPathOptions): FastPath {
  const { schema, logger, tableOf } = options;
  const tables = Object.values(schema.getTypeMap())
    .map((type) => tableOf(type.name))
    .flatMap((source) => (source && source !== 'loader' ? [source.table] : []));
  const loadCatalog = catalogLoader(options.pool, logger);
  // yoga's parse cache hands out one DocumentNode per query text: one plan per text and operation.
  const plans = new WeakMap<DocumentNode, Map<string, Plan | { declined: string }>>();

  const planOf = (catalog: Catalog, document: DocumentNode, operationName: string | null | undefined) => {
    let byName = plans.get(document);
    if (!byName) {
      byName = new Map();
      plans.set(document, byName);
    }
    let plan = byName.get(operationName ?? '');
    if (!plan) {
      plan = compile(schema, document, operationName, catalog, tableOf);
      if ('declined' in plan) logger.debug({ reason: plan.declined }, 'fast path: not compiled');
      byName.set(operationName ?? '', plan);
    }
    return plan;
  };

  /** The plan for `args`, if the fast path may answer them. */
  const planFor = async (args: ExecutionArgs): Promise<Plan | undefined> => {
    const ctx = args.contextValue as Context;
    if (args.schema !== schema || ctx.db.started) return undefined;
    const catalog = await loadCatalog(tables);
    if (!catalog) return undefined;
    const plan = planOf(catalog, args.document, args.operationName);
    if ('declined' in plan) return undefined;
    if (plan.scopes.length > 0) {
      const scopes = await options.scopesOf(ctx);
      if (!plan.scopes.every((rule) => passes(rule, scopes))) return undefined;
    }
    return plan;
  };

  return {
    async explain(document, operationName) {
      const catalog = await loadCatalog(tables);
      if (!catalog) return 'no catalog';
      const plan = planOf(catalog, document, operationName);
      return 'declined' in plan ? plan.declined : undefined;
    },

    async execute(args, fallback) {
      const plan = await planFor(args);
      const outcome = plan && (await run(plan, args, { schema, tableOf, prepared: options.prepared }));
      if (outcome && 'refused' in outcome) {
        // A statement PostgreSQL refuses is a bug of the compiler: the resolvers serve this text from now on.
        logger.error({ err: outcome.refused }, 'fast path: statement refused; not compiled');
        plans.get(args.document)?.set(args.operationName ?? '', { declined: 'statement refused' });
      }
      if (outcome && 'result' in outcome) {
        options.onOutcome?.('answered');
        return outcome.result;
      }
      options.onOutcome?.(outcome ? 'refused' : 'declined');
      return fallback();
    },
  };
}
