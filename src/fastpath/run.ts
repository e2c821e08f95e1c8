import {
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLError,
  type GraphQLSchema,
  locatedError,
} from 'graphql';
import type { Context } from '../context.js';
import { StatementNotPrepared } from '../db/request-transaction.js';
import type { TableOf } from './compile.js';
import { DECLINED_MARK } from './encodings.js';
import type { Plan } from './plan.js';
import { contextJson, RequestDeclined, requestValues } from './request-values.js';
import { type Statement, statementFor } from './sql.js';

/** A result written as PostgreSQL wrote it; yoga calls `stringify` when a result has one. */
type Written = ExecutionResult & { stringify: () => string };

/**
 * One request on its plan: the result, or undefined when the resolvers must answer (a value
 * the plan cannot write exactly; nothing of the request has run then), or `refused` when
 * PostgreSQL would not prepare the statement.
 */
export async function run(
  plan: Plan,
  args: ExecutionArgs,
  options: { schema: GraphQLSchema; tableOf: TableOf; prepared: boolean },
): Promise<{ result: ExecutionResult } | { refused: string } | undefined> {
  const ctx = args.contextValue as Context;
  let statement: Statement;
  try {
    const values = requestValues(options.schema, plan, args.variableValues, ctx, options.tableOf);
    statement = statementFor(plan, values, !options.prepared);
  } catch (error) {
    if (error instanceof RequestDeclined) return undefined;
    throw error;
  }
  // Known without reading a row (ids that name nothing, __typename): no connection, as the resolvers borrow none.
  if (statement.constant !== undefined) return { result: written(statement.constant) };
  try {
    const rows = await ctx.db.runAlone<{ body: string }>(statement, (e) => isDeclined(e) || isRefused(e));
    return { result: written(rows[0]!.body) };
  } catch (error) {
    if (error instanceof StatementNotPrepared) return { refused: (error.cause as Error).message };
    if (isRefused(error)) return { refused: (error as Error).message };
    if (isDeclined(error) || (error as { code?: unknown }).code === '26000') return undefined;
    return { result: failed(plan, error, ctx) };
  }
}

/**
 * SQLSTATE class 42 (syntax error or access rule violation): the statement itself is wrong, a
 * bug of the compiler, which PREPARE reports as StatementNotPrepared and a statement with
 * literals (PG_PREPARED_STATEMENTS=0) only when it runs.
 */
function isRefused(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('42');
}

function isDeclined(error: unknown): boolean {
  return (
    (error as { code?: unknown }).code === '22P02' &&
    error instanceof Error &&
    error.message.includes(DECLINED_MARK)
  );
}

function written(body: string): Written {
  let data: ExecutionResult['data'];
  return {
    // Parsed only if a plugin reads it (the response cache checks a miss has data).
    get data() {
      data ??= (JSON.parse(body) as { data: ExecutionResult['data'] }).data;
      return data;
    },
    stringify: () => body,
  };
}

/**
 * The statement failed (a timeout, a lost connection, no connection in time): each root
 * field that reads rows fails with the error, as each of their resolvers would have (the
 * others keep their values), and nulls propagate as graphql's do.
 */
function failed(plan: Plan, error: unknown, ctx: Context): ExecutionResult {
  const errors: GraphQLError[] = [];
  const data: Record<string, unknown> = {};
  let nulled = false;
  for (const entry of plan.root) {
    if (entry.kind === 'typename') {
      data[entry.key] = entry.typename;
      continue;
    }
    if (entry.kind === 'context') {
      data[entry.key] = JSON.parse(contextJson(entry, ctx)); // computed once already: it does not throw
      continue;
    }
    errors.push(locatedError(error, entry.site.nodes, [entry.key]));
    data[entry.key] = null;
    if (entry.kind === 'connection' || !entry.nullable) nulled = true;
  }
  return { errors, data: nulled ? null : data };
}
