import type { Isolation, Tenant, TenantsConfig } from './tenants-file.js';

/**
 * An immutable snapshot of the tenants file. Every host it answers for is computed once here,
 * so a lookup is one Map.get and request input never becomes a key (unknown hosts cost nothing).
 */
export class TenantSet {
  readonly baseDomain: string;
  readonly size: number;
  readonly #tenants: readonly Tenant[];
  readonly #byId: ReadonlyMap<number, Tenant>;
  readonly #byHost: ReadonlyMap<string, Tenant>;

  private constructor(config: TenantsConfig) {
    const byId = new Map<number, Tenant>();
    const byHost = new Map<string, Tenant>();
    const addHost = (host: string, tenant: Tenant) => {
      // The file parser rejects this; a second owner here would be a bug, not a config problem.
      if (byHost.has(host)) throw new Error(`TenantSet: host "${host}" belongs to two tenants`);
      byHost.set(host, tenant);
    };
    for (const tenant of config.tenants) {
      if (byId.has(tenant.id)) throw new Error(`TenantSet: duplicate tenant id ${tenant.id}`);
      byId.set(tenant.id, tenant);
      addHost(`${tenant.subdomain}.${config.baseDomain}`, tenant);
      for (const domain of tenant.domains) addHost(domain, tenant);
    }
    this.baseDomain = config.baseDomain;
    this.size = byId.size;
    this.#tenants = Object.freeze([...config.tenants]);
    this.#byId = byId;
    this.#byHost = byHost;
    Object.freeze(this);
  }

  static from(config: TenantsConfig): TenantSet {
    return new TenantSet(config);
  }

  byId(id: number): Tenant | undefined {
    return this.#byId.get(id);
  }

  /** `host` must already be normalised; matches `<subdomain>.<baseDomain>` or an exact custom domain. */
  byHost(host: string): Tenant | undefined {
    return this.#byHost.get(host);
  }

  all(): readonly Tenant[] {
    return this.#tenants;
  }
}

export interface TenantSetDiff {
  added: number[];
  removed: number[];
  changed: number[];
  /**
   * The new isolation of each tenant whose isolation changed, or that was added with a
   * database of its own (SPEC §10); absent when there is none, as in most reloads.
   */
  isolation?: Record<number, Isolation>;
}

const sameList = <T>(a: readonly T[], b: readonly T[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

function sameTenant(a: Tenant, b: Tenant): boolean {
  return (
    a.id === b.id &&
    a.subdomain === b.subdomain &&
    a.name === b.name &&
    a.kind === b.kind &&
    a.disabled === b.disabled &&
    a.isolation === b.isolation &&
    a.statementTimeoutMs === b.statementTimeoutMs &&
    a.rateLimit.requests === b.rateLimit.requests &&
    a.rateLimit.perSeconds === b.rateLimit.perSeconds &&
    sameList(a.domains, b.domains) &&
    (a.grants === '*' || b.grants === '*' ? a.grants === b.grants : sameList(a.grants, b.grants))
  );
}

/** Tenant ids added, removed and changed (same id, any field different), each sorted ascending. */
export function diffTenantSets(previous: TenantSet, next: TenantSet): TenantSetDiff {
  const diff: TenantSetDiff = { added: [], removed: [], changed: [] };
  for (const tenant of next.all()) {
    const before = previous.byId(tenant.id);
    if (!before) diff.added.push(tenant.id);
    else if (!sameTenant(before, tenant)) diff.changed.push(tenant.id);
  }
  for (const tenant of previous.all()) if (!next.byId(tenant.id)) diff.removed.push(tenant.id);
  for (const tenant of next.all()) {
    const before = previous.byId(tenant.id)?.isolation ?? 'shared';
    if (tenant.isolation === before) continue;
    diff.isolation ??= {};
    diff.isolation[tenant.id] = tenant.isolation;
  }
  const ascending = (a: number, b: number) => a - b;
  diff.added.sort(ascending);
  diff.removed.sort(ascending);
  diff.changed.sort(ascending);
  return diff;
}
