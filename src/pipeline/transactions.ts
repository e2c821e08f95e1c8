import {
  createSourceEventStream,
  type ExecutionArgs,
  type ExecutionResult,
  execute,
  GraphQLError,
  getOperationAST,
} from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Principal } from '../auth/principal.js';
import type { SessionRevoker } from '../auth/session-revocations.js';
import type { StreamGuard, StreamWatch } from '../auth/stream-credentials.js';
import type { EventBus } from '../cache/events.js';
import type { Context } from '../context.js';
import type { DataKeys } from '../crypto/data-keys.js';
import { FieldEncryption } from '../crypto/field-encryption.js';
import { RequestTransaction } from '../db/request-transaction.js';
import type { TransactionRoute } from '../db/router.js';
import { AppError, internalError } from '../errors.js';
import { RequestLoaders } from '../graphql/request-loaders.js';
import type { Logger } from '../observability/logger.js';
import type { Tenant } from '../tenancy/tenants-file.js';
import { stateOf } from './state.js';

/**
 * A request's transaction, its whole life in one place: made with the request's context
 * (lazy: begun by the first statement, where db/router.ts says: the runtime pool, the tenant's
 * own database, or the admin pool for the system host), made writable at execute only for a mutation, committed or rolled back when the
 * operation is done, and for subscriptions replaced by one short transaction per event. The
 * transaction itself (BEGIN with the tenant settings, one statement at a time, COMMIT) is
 * db/request-transaction.ts.
 */

export interface ContextDeps {
  readonly logger: Logger;
  readonly events: EventBus;
  readonly sessions: SessionRevoker;
  readonly dataKeys: DataKeys;
  readonly onQuery?: () => void;
}

/** A context with a fresh lazy transaction and loaders: one per request, and one per subscription event. */
export function newContext(
  deps: ContextDeps,
  route: TransactionRoute,
  tenant: Tenant,
  principal: Principal,
  requestId: string,
): Context {
  const transaction = new RequestTransaction(
    route.source,
    {
      tenantId: tenant.id,
      userId: principal.kind === 'ANONYMOUS' ? undefined : principal.subject,
      actorTenantId: principal.kind === 'SERVICE' ? principal.actorTenantId : undefined,
      statementTimeoutMs: tenant.statementTimeoutMs,
    },
    deps.logger,
    route.acquireSlot,
    deps.onQuery,
  );
  const loaders = new RequestLoaders(transaction);
  const encryption = new FieldEncryption(tenant.id, deps.dataKeys, deps.logger);
  return {
    requestId,
    tenant,
    principal,
    db: transaction,
    loaders,
    events: deps.events,
    sessions: deps.sessions,
    encryption,
  };
}

/**
 * The context of a GraphQL request, from what the pre-GraphQL plugins decided. Its transaction
 * is remembered in the request's state, so useRequestTransaction's safety net can end it.
 */
export function requestContext(
  request: Request,
  make: (tenant: Tenant, principal: Principal, requestId: string) => Context,
): Context {
  const state = stateOf(request);
  const { tenant, principal } = state;
  if (!tenant || !principal) throw new Error('GraphQL reached without a resolved tenant and principal');
  const context = make(tenant, principal, state.requestId);
  state.transaction = context.db;
  return context;
}

/**
 * Ends each request's transaction: COMMIT when the operation produced no error, otherwise
 * ROLLBACK, so a mutation request is all or nothing. A failed COMMIT replaces the result with
 * an error. onResponse is the safety net for paths that never reach onExecuteDone.
 *
 * Only a mutation's transaction may write: every other one runs READ ONLY (SPEC §5).
 */
export function useRequestTransaction(logger: Logger): Plugin<Context> {
  return {
    onExecute({ args }) {
      if (getOperationAST(args.document, args.operationName)?.operation === 'mutation') {
        args.contextValue.db.allowWrites();
      }
      return {
        async onExecuteDone({ args, result, setResult }) {
          const tx = args.contextValue.db;
          if (isAsyncIterable(result)) {
            await tx.finish(false); // incremental delivery is not enabled; nothing to keep
            return;
          }
          try {
            await tx.finish(!result.errors?.length);
          } catch (error) {
            logger.error({ err: (error as Error).message }, 'commit failed');
            setResult({ data: null, errors: [error instanceof AppError ? error : internalError()] });
          }
        },
      };
    },
    async onResponse({ request }) {
      await stateOf(request).transaction?.finish(false);
    },
  };
}

export interface SubscriptionTransactionsOptions {
  /** A context like `base` (same tenant, principal, settings) with a fresh transaction and loaders. */
  fork: (base: Context) => Context;
  guard: StreamGuard;
}

/**
 * A subscription lives for minutes or hours; its request transaction must not. The request's
 * own transaction is never begun (the source stream reads no rows) and is ended by
 * useRequestTransaction's onResponse safety net. Each event instead runs in a transaction of
 * its own, with the subscriber's tenant settings, committed before the event is sent — so a
 * pooled connection is held for one event at a time, and only if the event reads rows (or the
 * stream's API key must be checked).
 */
export function useSubscriptionTransactions(options: SubscriptionTransactionsOptions): Plugin<Context> {
  return {
    onSubscribe({ setSubscribeFn }) {
      setSubscribeFn(async (args: ExecutionArgs) => {
        const stream = await createSourceEventStream(args);
        if (!isAsyncIterable(stream)) return stream;
        const base = args.contextValue as Context;
        return perEvent(
          stream[Symbol.asyncIterator](),
          (payload, watch) => executeEvent(args, payload, options.fork(base), watch),
          (end) => options.guard.watch(base, end),
        );
      });
    },
  };
}

/** The event's result, or undefined when the stream's credential failed its check (nothing ran). */
async function executeEvent(
  args: ExecutionArgs,
  payload: unknown,
  context: Context,
  watch: StreamWatch,
): Promise<ExecutionResult | undefined> {
  try {
    if (!(await watch.isValidIn(context.db))) {
      await context.db.finish(false);
      return undefined;
    }
    const result = await execute({ ...args, rootValue: payload, contextValue: context });
    await context.db.finish(!result.errors?.length);
    return result;
  } catch (error) {
    await context.db.finish(false);
    const shown =
      error instanceof GraphQLError
        ? error
        : new GraphQLError('Unexpected error.', { originalError: error as Error });
    return { errors: [error instanceof AppError ? error : shown] };
  }
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * Maps each source event through `run`, and ends when the guard says so: the source is
 * released at once, the guard's error is sent as the last event, then the stream completes.
 * The credential is checked before each event runs and again right before it is delivered, so
 * an event that arrives (or finishes) after the credential went is dropped, not sent.
 *
 * Hand-written rather than an async generator: a generator cannot be returned while it awaits
 * the next event, so a client that disconnects from a quiet channel would keep its listener
 * until the next event arrived, and a quiet stream could not be ended by the guard.
 */
function perEvent(
  source: AsyncIterator<unknown>,
  run: (payload: unknown, watch: StreamWatch) => Promise<ExecutionResult | undefined>,
  watchWith: (end: (error: AppError) => void) => StreamWatch,
): AsyncIterableIterator<ExecutionResult> {
  let closed = false;
  /** The guard's error, until it is sent. */
  let final: ExecutionResult | undefined;
  let wake: () => void = () => {};
  const woken = new Promise<IteratorResult<unknown>>((resolve) => {
    wake = () => resolve(DONE);
  });
  const close = async () => {
    if (closed) return;
    closed = true;
    watch.release();
    wake();
    await source.return?.();
  };
  const watch = watchWith((error) => {
    if (closed) return;
    final = { errors: [error] };
    void close();
  });
  const finalOrDone = (): IteratorResult<ExecutionResult> => {
    const value = final;
    final = undefined;
    return value ? { done: false, value } : DONE;
  };

  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      if (closed) return finalOrDone();
      const event = await Promise.race([source.next(), woken]);
      if (closed) return finalOrDone();
      if (event.done) {
        await close();
        return DONE;
      }
      const result = watch.isValid() ? await run(event.value, watch) : undefined;
      if (closed || !result || !watch.isValid()) {
        await close(); // already closed by the guard's `end`; this only makes sure
        return finalOrDone();
      }
      return { done: false, value: result };
    },
    async return() {
      final = undefined; // the client left: nobody to tell
      await close();
      return DONE;
    },
    async throw(error: unknown) {
      await close();
      throw error;
    },
  };
}
