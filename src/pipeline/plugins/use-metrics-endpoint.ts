import type { Plugin } from 'graphql-yoga';
import {
  METRICS_PATH,
  type Metrics,
  type MetricsAccess,
  metricsAnswer,
} from '../../observability/metrics.js';

/**
 * `/metrics` on the public listener, on any host, when `access.public`; otherwise the path is
 * not there (404, like any unknown path). With a token, only `Authorization: Bearer <token>`.
 */
export function useMetricsEndpoint(metrics: Metrics, access: MetricsAccess): Plugin {
  return {
    async onRequest({ url, request, endResponse }) {
      if (url.pathname !== METRICS_PATH) return;
      if (!access.public) return endResponse(new Response('Not Found\n', { status: 404 }));
      const answer = await metricsAnswer(metrics, access.token, request.headers.get('authorization'));
      endResponse(
        new Response(answer.body, { status: answer.status, headers: { 'content-type': answer.type } }),
      );
    },
  };
}
