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
  readonly #bySubdomain: ReadonlyMap<string, Tenant>;
  readonly #byExternalId: ReadonlyMap<string, Tenant>;

  private constructor(config: TenantsConfig) {
    const byId = new Map<number, Tenant>();
    const byHost = new Map<string, Tenant>();
    const bySubdomain = new Map<string, Tenant>();
    const byExternalId = new Map<string, Tenant>();
    // The file parser rejects a second owner; here it would be a bug, not a config problem.
    const add = <K>(map: Map<K, Tenant>, key: K, tenant: Tenant, what: string) => {
      if (map.has(key)) throw new Error(`TenantSet: ${what} "${String(key)}" belongs to two tenants`);
      map.set(key, tenant);
    };
    for (const tenant of config.tenants) {
      add(byId, tenant.id, tenant, 'id');
      add(byHost, `${tenant.subdomain}.${config.baseDomain}`, tenant, 'host');
      add(bySubdomain, tenant.subdomain, tenant, 'subdomain');
      for (const domain of tenant.domains) add(byHost, domain, tenant, 'host');
      for (const externalId of tenant.externalIds) add(byExternalId, externalId, tenant, 'external id');
    }
    this.baseDomain = config.baseDomain;
    this.size = byId.size;
    this.#tenants = Object.freeze([...config.tenants]);
    this.#byId = byId;
    this.#byHost = byHost;
    this.#bySubdomain = bySubdomain;
    this.#byExternalId = byExternalId;
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

  /** The tenant a group of JWT_TENANT_FROM=group names (SPEC §6), never a custom domain's. */
  bySubdomain(subdomain: string): Tenant | undefined {
    return this.#bySubdomain.get(subdomain);
  }

  /** The tenant with this id at an identity provider (the tenants file's `externalIds`). */
  byExternalId(externalId: string): Tenant | undefined {
    return this.#byExternalId.get(externalId);
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
    sameList(a.externalIds, b.externalIds) &&
    (a.grants === '*' || b.grants === '*' ? a.grants === b.grants : sameList(a.grants, b.grants))
  );
}

/** Tenant ids added, removed and changed (same id, any field different), each sorted ascending. */
export function diffTenantSets(previous: TenantSet, next: TenantSet): TenantSetDiff {
  const diff: TenantSetDiff = { added: [], removed: [], changed: [] };
  for (const tenant of next.all()) {
    const before = previous.byId(tenant.id);
    if (before === tenant) continue; // the file reader hands back an unchanged entry's Tenant
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
