import { type DocumentNode, getOperationAST } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import { stateOf } from '../state.js';

export interface ObservabilityOptions {
  logger: Logger;
  metrics: Metrics;
  graphqlEndpoint: string;
}

/**
 * One log line and one set of metrics per request, and the request id echoed in `x-request-id`.
 * It runs first, so the id and the start time exist before any other plugin looks.
 *
 * The log line carries ids, names, status and timing, never headers or variables: a token or
 * an API key cannot reach it. For a subscription the duration ends at the response head.
 */
export function useObservability(options: ObservabilityOptions): Plugin {
  const { logger, metrics, graphqlEndpoint } = options;
  /** The error codes of each request's results. */
  const errorCodes = new WeakMap<Request, Set<string>>();
  const recordOperation = (request: Request, document: DocumentNode, operationName?: string | null) => {
    const operation = getOperationAST(document, operationName);
    stateOf(request).operations.push({
      type: operation?.operation ?? 'unknown',
      name: operation?.name?.value ?? operationName ?? undefined,
    });
  };

  return {
    onRequest({ request }) {
      stateOf(request); // stamps the request id and start time
    },
    onExecute({ args }) {
      recordOperation(args.contextValue.request, args.document, args.operationName);
    },
    onSubscribe({ args }) {
      recordOperation(args.contextValue.request, args.document, args.operationName);
    },
    onExecutionResult({ request, result }) {
      if (!result || isAsyncIterable(result)) return;
      for (const error of result.errors ?? []) {
        const code = error.extensions?.code;
        const codes = errorCodes.get(request) ?? new Set<string>();
        codes.add(typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR');
        errorCodes.set(request, codes);
      }
    },
    onResponse({ request, response }) {
      const state = stateOf(request);
      response.headers.set('x-request-id', state.requestId);
      const durationMs = Math.round((performance.now() - state.startedAt) * 10) / 10;
      const path = new URL(request.url).pathname;
      const { operations } = state;
      const codes = errorCodes.get(request);
      const operation = operations.length > 1 ? 'batch' : (operations[0]?.type ?? 'none');
      const status = response.status;
      const outcome = status >= 400 ? 'rejected' : codes ? 'error' : 'ok';
      const line = {
        requestId: state.requestId,
        method: request.method,
        path,
        status,
        outcome,
        durationMs,
        tenantId: state.tenant?.id,
        principal: state.principal?.kind,
        operationType: operation,
        operationName:
          operations
            .map((o) => o.name)
            .filter(Boolean)
            .join(',') || undefined,
        errors: codes ? [...codes] : undefined,
      };

      if (path !== graphqlEndpoint) {
        // Probes and scrapes every few seconds would drown the request lines.
        logger.debug(line, 'request');
        return;
      }
      const tenant = metrics.tenantLabel(state.tenant?.id);
      metrics.requests.inc({ status: String(status), operation, tenant });
      metrics.requestDuration.observe({ operation, tenant }, durationMs / 1000);
      if (status >= 500) logger.error(line, 'request');
      else logger.info(line, 'request');
    },
  };
}
