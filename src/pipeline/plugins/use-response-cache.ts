import { BREAK, type DocumentNode, type ExecutionResult, getOperationAST, visit } from 'graphql';
import { type GraphQLParams, isAsyncIterable, type Plugin } from 'graphql-yoga';
import { LRUCache } from 'lru-cache';
import type { Principal } from '../../auth/principal.js';
import { hashSegment } from '../../cache/keyspace.js';
import type { ResponseCache } from '../../cache/response-cache.js';
import type { Context } from '../../context.js';
import type { Tenant } from '../../tenancy/tenants-file.js';
import { stateOf } from '../state.js';

/** `hit` or `miss` on every cacheable query's response (both for a batch only if all hit). */
export const CACHE_HEADER = 'x-tenantql-cache';

/** Bumped when the cached shape changes, so a deploy never reads entries of the old format. */
const FORMAT = 2;
/** Bounds the memory of `known` (query texts and what they are), in characters of text. */
const KNOWN_TEXTS_MAX_CHARS = 4_000_000;

interface Operation {
  readonly kind: 'query' | 'mutation' | 'subscription' | undefined;
  /** The operation's own name, for the request log. */
  readonly name: string | undefined;
  /** A query without __schema/__type: introspection is cheap and must follow the live schema. */
  readonly cacheable: boolean;
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
    const ast = getOperationAST(document, operationName);
    let introspection = false;
    visit(document, {
      Field(node) {
        if (node.name.value === '__schema' || node.name.value === '__type') {
          introspection = true;
          return BREAK;
        }
      },
    });
    const kind = ast?.operation;
    operation = { kind, name: ast?.name?.value, cacheable: kind === 'query' && !introspection };
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
      // The role too: `viewer { roles }` answers differently for two tokens of one subject.
      return ['USER', principal.subject, principal.role];
    case 'SERVICE':
      return ['SERVICE', principal.actorTenantId, principal.subject];
    case 'API_KEY':
      return ['API_KEY', principal.apiKeyId, principal.subject];
  }
}

/** yoga writes a result with its `stringify` when it has one (plugins/result-processor/stringify.ts). */
type Serialisable = ExecutionResult & { stringify?: (result: ExecutionResult) => string };

/**
 * A hit: yoga writes the stored bytes as they are. Its `stringify` hands them to
 * `new Response(…)` for a single result (whatwg-node writes a Buffer body straight to the
 * socket) or joins them into a batch's text (Buffer#toString is UTF-8): no JSON.parse, no
 * JSON.stringify, no UTF-8 round trip. `data` is parsed only if some plugin reads it (none on
 * the hit path does).
 */
function servedAsStored(body: Buffer): Serialisable {
  let data: Record<string, unknown> | undefined;
  return {
    get data() {
      data ??= (JSON.parse(body.toString()) as { data: Record<string, unknown> }).data;
      return data;
    },
    stringify: () => body as unknown as string,
  };
}

/** The GraphQL parameters of one operation (one per item of a batch). */
type Params = GraphQLParams;

/**
 * Serves queries from the response cache and invalidates the tenant's entries when a mutation
 * commits.
 *
 * A query text seen before is looked up in onParams, before yoga parses, validates or builds a
 * context: a hit costs the tenancy, auth and rate-limit hooks and one Valkey round trip. Skipping
 * validation there is sound because an entry exists only for a text that ran without errors
 * under this same schema and limits (`schemaVersion` is part of the key), tenant settings and
 * viewer. A text seen for the first time is looked up in onExecute instead, once yoga has said
 * what it is; from then on `known` remembers whether it is a cacheable query (a fact about the
 * text, the same for every tenant, like yoga's own parse cache). Mutations never cost a lookup.
 *
 * Placed after useRequestTransaction: on a hit no resolver runs and no connection is borrowed;
 * on a miss the body is stored as yoga writes it, after the transaction finished successfully.
 */
export function useResponseCache(options: {
  cache: ResponseCache;
  /** Changes whenever the schema or the query limits do; see app.ts. */
  schemaVersion: string;
  onLookup?: (result: 'hit' | 'miss') => void;
}): Plugin<Context> {
  const { cache, schemaVersion, onLookup = () => {} } = options;
  const outcomes = new WeakMap<Request, 'hit' | 'miss'>();
  /** Misses found in onParams, for onExecute to store the result under. */
  const stores = new WeakMap<Params, ((body: string) => void) | undefined>();
  const known = new LRUCache<string, Operation>({
    maxSize: KNOWN_TEXTS_MAX_CHARS,
    sizeCalculation: (_operation, text) => text.length,
  });
  const textKey = (params: Params) => `${params.operationName ?? ''}\n${params.query}`;

  const lookup = async (request: Request, tenant: Tenant, principal: Principal, params: Params) => {
    const field = hashSegment(
      JSON.stringify([
        FORMAT,
        schemaVersion,
        fingerprint(tenant),
        viewer(principal),
        params.query,
        params.operationName ?? null,
        params.variables ?? null,
      ]),
    );
    const found = await cache.lookup(tenant.id, field);
    onLookup(found.hit ? 'hit' : 'miss');
    if (outcomes.get(request) !== 'miss') outcomes.set(request, found.hit ? 'hit' : 'miss');
    return found;
  };

  return {
    async onParams({ params, request, setResult }) {
      if (typeof params.query !== 'string') return; // yoga answers that request with 400
      const operation = known.get(textKey(params));
      if (!operation?.cacheable) return;
      const { tenant, principal, orderedBatch, admission } = stateOf(request);
      // The system tenant reads across tenants (BYPASSRLS): no tenant's mutation could invalidate it.
      if (!tenant || !principal || tenant.kind === 'system') return;
      // A batch with a mutation: a query after it must not be answered before it ran. Looked
      // up in onExecute instead, which runs once the operations before it have committed.
      if (orderedBatch) return;
      // The rate limit's verdict and the lookup travel to Valkey together: one round trip.
      const [found, refused] = await Promise.all([lookup(request, tenant, principal, params), admission]);
      if (refused) {
        setResult({ errors: [refused] });
        return;
      }
      if (found.hit) {
        stateOf(request).operations.push({ type: 'query', name: operation.name });
        setResult(servedAsStored(found.body));
      } else {
        stores.set(params, found.store);
      }
    },
    async onExecute({ args, setResultAndStopExecution }) {
      const ctx = args.contextValue as Context & { request: Request; params: Params };
      const operation = describe(args.document, args.operationName);
      if (typeof ctx.params?.query === 'string') known.set(textKey(ctx.params), operation);
      if (operation.kind === 'mutation') {
        const tenantId = ctx.tenant.id;
        ctx.db.afterCommit(() => cache.invalidate(tenantId));
        return;
      }
      if (!operation.cacheable || ctx.tenant.kind === 'system') return;

      let store: ((body: string) => void) | undefined;
      if (stores.has(ctx.params)) {
        store = stores.get(ctx.params);
      } else {
        const found = await lookup(ctx.request, ctx.tenant, ctx.principal, ctx.params);
        if (found.hit) {
          setResultAndStopExecution(servedAsStored(found.body));
          return;
        }
        store = found.store;
      }
      if (!store) return;
      const storeBody = store;
      return {
        onExecuteDone({ result, setResult }) {
          if (isAsyncIterable(result) || result.errors?.length || !result.data) return;
          // Decrypted fields stay out of Valkey (SPEC §12): the plaintext lives only in memory.
          if (ctx.encryption.decryptedAny) return;
          // Store the very bytes yoga writes: the response is serialised once, not twice.
          const stringify = (result as Serialisable).stringify ?? JSON.stringify;
          setResult({
            ...result,
            stringify: (serialised: ExecutionResult) => {
              const body = stringify(serialised);
              if (!serialised.errors && !serialised.extensions) storeBody(body);
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
