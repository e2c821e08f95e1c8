import type { Principal } from '../auth/principal.js';
import type { RequestTransaction } from '../db/request-transaction.js';
import type { AppError } from '../errors.js';
import type { TenantSet } from '../tenancy/tenant-set.js';
import type { Tenant } from '../tenancy/tenants-file.js';

/**
 * What the pre-GraphQL hooks learn about a request, keyed on the Request object itself
 * (yoga's WeakMap pattern), so it dies with the request.
 */
export interface RequestState {
  readonly requestId: string;
  readonly startedAt: number;
  /** The GraphQL operations run (or served from the cache) for this request, for its log line. */
  readonly operations: { type: string; name: string | undefined }[];
  /** The snapshot the request started with; a reload mid-request does not change it. */
  tenants?: TenantSet;
  tenant?: Tenant;
  principal?: Principal;
  transaction?: RequestTransaction;
  operationName?: string;
  /**
   * The tenant rate limit's verdict, in flight while the request goes on (cache/rate-limit.ts):
   * the refusal, or undefined when admitted. Nothing may run or be served before it settles.
   */
  admission?: Promise<AppError | undefined>;
  /** A batch with a mutation: its operations run in order (pipeline/plugins/use-ordered-batches.ts). */
  orderedBatch?: boolean;
}

const states = new WeakMap<Request, RequestState>();

export function stateOf(request: Request): RequestState {
  let state = states.get(request);
  if (!state) {
    state = {
      requestId: request.headers.get('x-request-id')?.slice(0, 64) || crypto.randomUUID(),
      startedAt: performance.now(),
      operations: [],
    };
    states.set(request, state);
  }
  return state;
}
