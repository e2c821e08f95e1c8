import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApp } from '../helpers/app.js';

const TENANTS = 10_000;
const LABELS = 20;

let t: TestApp;
beforeAll(async () => {
  const tenants = Array.from({ length: TENANTS }, (_, i) => ({
    id: i + 2,
    subdomain: `t${i + 2}`,
    name: `T ${i + 2}`,
  }));
  t = await TestApp.start({
    tenants: { baseDomain: 'localhost', tenants },
    env: { METRICS_TENANT_LABELS: String(LABELS) },
  });
}, 120_000);
afterAll(() => t?.close());

/** Distinct values of `label` among the samples of `metric`. */
function labelValues(text: string, metric: string, label: string): Set<string> {
  const values = new Set<string>();
  const pattern = new RegExp(`^${metric}\\{[^}]*\\b${label}="([^"]*)"`, 'gm');
  for (const match of text.matchAll(pattern)) values.add(match[1]!);
  return values;
}

describe('tenant label cardinality', () => {
  it(`keeps the series bounded with ${TENANTS} tenants each sending requests`, async () => {
    for (let first = 2; first < TENANTS + 2; first += 250) {
      await Promise.all(
        Array.from({ length: Math.min(250, TENANTS + 2 - first) }, async (_, i) => {
          const res = await t.gql(`t${first + i}.localhost`, '{ tenant { id } }');
          expect(res.status).toBe(200);
        }),
      );
    }

    const response = await t.app.fetch('http://localhost/metrics', { headers: { host: 'localhost' } });
    const text = await response.text();
    const tenants = labelValues(text, 'tenantql_requests_total', 'tenant');
    expect(tenants.size).toBeLessThanOrEqual(LABELS + 1);
    expect(tenants).toContain('other');
    expect(labelValues(text, 'tenantql_request_duration_seconds_bucket', 'tenant').size).toBeLessThanOrEqual(
      LABELS + 1,
    );
    const requestSeries = text.split('\n').filter((line) => line.startsWith('tenantql_requests_total{'));
    expect(requestSeries.length).toBeLessThanOrEqual(LABELS + 1);
    // Every request was counted: the labelled tenants' series plus `other` add up.
    const total = requestSeries.reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
    expect(total).toBe(TENANTS);
    expect(text.length).toBeLessThan(100_000);
  });
});
