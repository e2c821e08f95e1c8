import { describe, expect, it } from 'vitest';
import { OTHER_TENANTS, TenantLabels } from '../../src/observability/tenant-labels.js';

const traffic = (labels: TenantLabels, tenantId: number, requests: number) => {
  let label = '';
  for (let i = 0; i < requests; i++) label = labels.label(tenantId);
  return label;
};

describe('TenantLabels', () => {
  it('gives free slots to tenants as they come, then labels the rest "other"', () => {
    const labels = new TenantLabels(2);
    expect(labels.label(7)).toBe('7');
    expect(labels.label(8)).toBe('8');
    expect(labels.label(9)).toBe(OTHER_TENANTS);
    expect(labels.label(7)).toBe('7');
  });

  it('hands the labels to the busiest tenants at a rebalance and names the demoted ones', () => {
    const labels = new TenantLabels(2);
    traffic(labels, 1, 1);
    traffic(labels, 2, 1);
    traffic(labels, 3, 50);
    traffic(labels, 4, 40);
    expect(labels.label(3)).toBe(OTHER_TENANTS);
    expect(labels.rebalance().sort()).toEqual([1, 2]);
    expect([...labels.labelled].sort()).toEqual([3, 4]);
    expect(labels.label(3)).toBe('3');
    expect(labels.label(1)).toBe(OTHER_TENANTS);
  });

  it('keeps an incumbent against a challenger with only a little more traffic', () => {
    const labels = new TenantLabels(1);
    traffic(labels, 1, 100);
    labels.rebalance(); // 1 keeps its label; counts halve to 50
    traffic(labels, 2, 55); // 55 < 50 * 1.25
    expect(labels.rebalance()).toEqual([]);
    expect([...labels.labelled]).toEqual([1]);
    traffic(labels, 2, 100); // now clearly busier
    expect(labels.rebalance()).toEqual([1]);
    expect([...labels.labelled]).toEqual([2]);
  });

  it('forgets tenants that went quiet, so the traffic map does not grow', () => {
    const labels = new TenantLabels(1);
    for (let id = 1; id <= 1000; id++) labels.label(id);
    labels.rebalance();
    expect(labels.labelled.size).toBe(1);
    // Everyone had 1 request: halved to 0 and dropped, except the labelled one.
    traffic(labels, 5000, 4);
    expect(labels.rebalance()).toHaveLength(1);
    expect([...labels.labelled]).toEqual([5000]);
  });

  it('never tracks more than maxTracked tenants', () => {
    const labels = new TenantLabels(3, 100);
    for (let id = 1; id <= 10_000; id++) labels.label(id);
    labels.rebalance();
    expect(labels.labelled.size).toBe(3);
    for (const id of labels.labelled) expect(id).toBeLessThanOrEqual(100);
  });

  it('labels everything "other" with a limit of 0', () => {
    const labels = new TenantLabels(0);
    expect(labels.label(2)).toBe(OTHER_TENANTS);
    expect(labels.rebalance()).toEqual([]);
  });
});
