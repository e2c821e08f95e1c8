import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/observability/metrics.js';

function request(metrics: ReturnType<typeof createMetrics>, tenantId: number, times = 1) {
  for (let i = 0; i < times; i++) {
    const tenant = metrics.tenantLabel(tenantId);
    metrics.requests.inc({ status: '200', operation: 'query', tenant });
    metrics.requestDuration.observe({ operation: 'query', tenant }, 0.01);
  }
}

const tenantsIn = (text: string) =>
  new Set([...text.matchAll(/^tenantql_request\w*\{[^}]*tenant="([^"]+)"/gm)].map((m) => m[1]));

describe('createMetrics', () => {
  it('uses a registry of its own: two instances do not share counters', async () => {
    const a = createMetrics({ tenantLabels: 5 });
    const b = createMetrics({ tenantLabels: 5 });
    a.cacheLookups.inc({ result: 'hit' });
    a.rateLimited.inc();
    expect(await a.render()).toMatch(/^tenantql_cache_lookups_total\{result="hit"\} 1$/m);
    expect(await a.render()).toMatch(/^tenantql_rate_limited_total 1$/m);
    expect(await b.render()).not.toMatch(/^tenantql_cache_lookups_total\{/m);
    expect(await b.render()).toMatch(/^tenantql_rate_limited_total 0$/m);
  });

  it('moves labels to the busiest tenants at a scrape and removes the series of the demoted', async () => {
    const metrics = createMetrics({ tenantLabels: 2, rebalanceIntervalMs: 0 });
    request(metrics, 10);
    request(metrics, 11);
    request(metrics, 12, 30); // arrives when the slots are taken: counted as `other`
    request(metrics, 13, 20);
    const labelled = await metrics.registry.metrics(); // as recorded, before any rebalance
    expect(tenantsIn(labelled)).toEqual(new Set(['10', '11', 'other']));
    // The scrape re-ranks first: 10 and 11 lose their labels and their series.
    expect(tenantsIn(await metrics.render())).toEqual(new Set(['other']));
    request(metrics, 12);
    request(metrics, 13);
    expect(tenantsIn(await metrics.render())).toEqual(new Set(['12', '13', 'other']));
  });

  it('reports pool connections from the pool counters at each scrape', async () => {
    const metrics = createMetrics({ tenantLabels: 1 });
    const pool = { totalCount: 5, idleCount: 2, waitingCount: 3 };
    metrics.observePool('runtime', () => ({
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
    }));
    let text = await metrics.render();
    expect(text).toMatch(/^tenantql_db_pool_connections\{pool="runtime",state="in_use"\} 3$/m);
    expect(text).toMatch(/^tenantql_db_pool_connections\{pool="runtime",state="idle"\} 2$/m);
    expect(text).toMatch(/^tenantql_db_pool_waiting\{pool="runtime"\} 3$/m);
    pool.waitingCount = 0;
    text = await metrics.render();
    expect(text).toMatch(/^tenantql_db_pool_waiting\{pool="runtime"\} 0$/m);
  });

  it('reports reads waiting at the FAST_PATH_CONCURRENCY gate as pool "fast_path"', async () => {
    const metrics = createMetrics({ tenantLabels: 1 });
    let waiting = 4;
    metrics.observePool('runtime', () => ({ total: 2, idle: 0, waiting: 0 }));
    metrics.observeScheduler('fast_path', { waiting: () => waiting });
    expect(await metrics.render()).toMatch(/^tenantql_db_pool_waiting\{pool="fast_path"\} 4$/m);
    waiting = 0;
    const text = await metrics.render();
    expect(text).toMatch(/^tenantql_db_pool_waiting\{pool="fast_path"\} 0$/m);
    expect(text).toMatch(/^tenantql_db_pool_waiting\{pool="runtime"\} 0$/m);
  });
});
