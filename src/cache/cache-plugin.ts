import { BREAK, type DocumentNode, type ExecutionResult, getOperationAST, print, visit } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Principal } from '../auth/principal.js';
import type { Context } from '../context.js';
import type { Tenant } from '../tenancy/tenants-file.js';
import { hashSegment } from './keyspace.js';
import type { ResponseCache } from './response-cache.js';

/** `hit` or `miss` on every cacheable query's response (both for a batch only if all hit). */
export const CACHE_HEADER = 'x-tenantql-cache';

/** Bumped when the cached shape changes, so a deploy never reads entries of the old format. */
const FORMAT = 1;

interface Operation {
  readonly kind: 'query' | 'mutation' | 'subscription' | undefined;
  /** A query without __schema/__type: introspection is cheap and must follow the live schema. */
  readonly cacheable: boolean;
  readonly documentId: string;
}

// yoga's parser cache hands out one DocumentNode per query text, so this runs once per text.
const operations = new WeakMap<DocumentNode, Map<string, Operation>>();

function describe(document: DocumentNode, operationName: string | null | undefined): Operation {
  let byName = operations.get(document);
  if (!byName) {
    byName = new Map();
    operations.set(document, byName);
  }
  const name = operationName ?? '';
  let operation = byName.get(name);
  if (!operation) {
    const kind = getOperationAST(document, operationName)?.operation;
    let introspection = false;
    visit(document, {
      Field(node) {
        if (node.name.value === '__schema' || node.name.value === '__type') {
          introspection = true;
          return BREAK;
        }
      },
    });
    operation = {
      kind,
      cacheable: kind === 'query' && !introspection,
      documentId: hashSegment(print(document)),
    };
    byName.set(name, operation);
  }
  return operation;
}

// A reload makes new Tenant objects; one whose name or settings changed gets new entries.
const fingerprints = new WeakMap<Tenant, string>();
function fingerprint(tenant: Tenant): string {
  let value = fingerprints.get(tenant);
  if (value === undefined) {
    value = JSON.stringify(tenant);
    fingerprints.set(tenant, value);
  }
  return value;
}

/** The viewer part of the key: entries are per tenant *and* per principal (RLS may use app.user_id). */
function viewer(principal: Principal): unknown[] {
  switch (principal.kind) {
    case 'ANONYMOUS':
      return ['ANONYMOUS'];
    case 'USER':
      return ['USER', principal.subject];
    case 'SERVICE':
      return ['SERVICE', principal.actorTenantId, principal.subject];
    case 'API_KEY':
      return ['API_KEY', principal.apiKeyId, principal.subject];
  }
}

/** yoga writes a result with its `stringify` when it has one (plugins/result-processor/stringify.ts). */
type Serialisable = ExecutionResult & { stringify?: (result: ExecutionResult) => string };

/**
 * A hit: yoga writes the stored body as it is. `data` is parsed only if some plugin reads it
 * (none on the hit path does), so a hit costs neither JSON.parse nor JSON.stringify.
 */
function servedAsStored(body: string): Serialisable {
  let data: Record<string, unknown> | undefined;
  return {
    get data() {
      data ??= (JSON.parse(body) as { data: Record<string, unknown> }).data;
      return data;
    },
    stringify: () => body,
  };
}

/**
 * Serves queries from the response cache and invalidates the tenant's entries when a mutation
 * commits. Placed after useRequestTransaction: on a hit no resolver runs and no connection is
 * borrowed; on a miss the result is stored after the transaction has finished successfully.
 */
export function useResponseCache(
  cache: ResponseCache,
  onLookup: (result: 'hit' | 'miss') => void = () => {},
): Plugin<Context> {
  const outcomes = new WeakMap<Request, 'hit' | 'miss'>();
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const ctx = args.contextValue;
      const operation = describe(args.document, args.operationName);
      if (operation.kind === 'mutation') {
        const tenantId = ctx.tenant.id;
        ctx.db.afterCommit(() => cache.invalidate(tenantId));
        return;
      }
      // The system tenant reads across tenants (BYPASSRLS): no tenant's mutation could invalidate it.
      if (!operation.cacheable || ctx.tenant.kind === 'system') return;

      const field = hashSegment(
        JSON.stringify([
          FORMAT,
          fingerprint(ctx.tenant),
          viewer(ctx.principal),
          operation.documentId,
          args.operationName ?? null,
          args.variableValues ?? null,
        ]),
      );
      const lookup = await cache.lookup(ctx.tenant.id, field);
      onLookup(lookup.hit ? 'hit' : 'miss');
      const request = ctx.request;
      if (outcomes.get(request) !== 'miss') outcomes.set(request, lookup.hit ? 'hit' : 'miss');
      if (lookup.hit) {
        setResultAndStopExecution(servedAsStored(lookup.body));
        return;
      }
      const store = lookup.store;
      if (!store) return;
      return {
        onExecuteDone({ result, setResult }) {
          if (isAsyncIterable(result) || result.errors?.length || !result.data) return;
          // Store the very bytes yoga writes: the response is serialised once, not twice.
          const stringify = (result as Serialisable).stringify ?? JSON.stringify;
          setResult({
            ...result,
            stringify: (serialised: ExecutionResult) => {
              const body = stringify(serialised);
              if (!serialised.errors && !serialised.extensions) store(body);
              return body;
            },
          } as Serialisable);
        },
      };
    },
    onResponse({ request, response }) {
      const outcome = outcomes.get(request);
      if (outcome) response.headers.set(CACHE_HEADER, outcome);
    },
  };
}
