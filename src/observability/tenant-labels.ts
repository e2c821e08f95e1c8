/** The label of requests whose tenant has no label of its own. */
export const OTHER_TENANTS = 'other';

/**
 * Keeps the `tenant` label of the metrics bounded: at most `limit` tenants carry their own id,
 * the ones with the most recent traffic; everything else is `other`. 10,000 tenants therefore
 * cost `limit + 1` series per label combination, not 10,000.
 *
 * Free slots go to tenants as they arrive; `rebalance()` (run at most once a minute, on a
 * scrape) replaces them with the top tenants by traffic since the last rebalances.
 */
export class TenantLabels {
  readonly #limit: number;
  /** Requests per tenant, halved at each rebalance so the ranking follows recent traffic. */
  readonly #traffic = new Map<number, number>();
  #labelled = new Set<number>();

  /**
   * @param limit how many tenants get a label of their own; 0 labels every tenant `other`.
   * @param maxTracked a ceiling on the traffic map (tenant ids come from the tenants file, so it
   *   is normally the tenant count; the ceiling only guards against a runaway caller).
   */
  constructor(
    limit: number,
    readonly maxTracked = 100_000,
  ) {
    this.#limit = limit;
  }

  /** Counts one request of `tenantId` and returns the label its series carry. */
  label(tenantId: number): string {
    const count = this.#traffic.get(tenantId);
    if (count !== undefined || this.#traffic.size < this.maxTracked)
      this.#traffic.set(tenantId, (count ?? 0) + 1);
    if (this.#labelled.has(tenantId)) return String(tenantId);
    if (this.#labelled.size < this.#limit) {
      this.#labelled.add(tenantId);
      return String(tenantId);
    }
    return OTHER_TENANTS;
  }

  /** Tenant ids that carry their own label now. */
  get labelled(): ReadonlySet<number> {
    return this.#labelled;
  }

  /**
   * Gives the labels to the top tenants by recent traffic and returns the ids that lost theirs,
   * so the caller can remove their series (that is what keeps the series count bounded).
   */
  rebalance(): number[] {
    // An incumbent keeps its label unless a challenger has clearly more traffic, so a tenant
    // at the boundary does not flap between its own series and `other` at every scrape.
    const score = (id: number, count: number) => (this.#labelled.has(id) ? count * 1.25 : count);
    const next = new Set(
      [...this.#traffic]
        .map(([id, count]) => ({ id, score: score(id, count) }))
        .sort((a, b) => b.score - a.score || a.id - b.id)
        .slice(0, this.#limit)
        .map((entry) => entry.id),
    );
    const demoted = [...this.#labelled].filter((id) => !next.has(id));
    this.#labelled = next;
    for (const [id, count] of this.#traffic) {
      const decayed = Math.floor(count / 2);
      if (decayed === 0 && !next.has(id)) this.#traffic.delete(id);
      else this.#traffic.set(id, decayed);
    }
    return demoted;
  }
}
