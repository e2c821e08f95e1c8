import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import { tenantRules, tenantUser } from './acl.js';
import { withEveryNode } from './client.js';
import { tenantPattern } from './keyspace.js';

type ValkeyTarget = Pick<Config, 'valkeyUrl' | 'valkeyClusterNodes'>;

export interface TenantKeysPurge {
  /** `{t<ID>}:` keys found, deleted, and found by a fresh SCAN afterwards. */
  keys: { before: number; deleted: number; after: number };
  /** The tenant's ACL user (`tenant_<ID>`) on any node: removed, or there was none. */
  aclUser: 'removed' | 'absent';
}

/**
 * Every `{t<ID>}:` key of a tenant (SCAN MATCH, UNLINK in batches) and its ACL user, for
 * `tenantql tenants purge`. The hash tag puts a tenant's keys in one slot, so on a cluster one
 * primary holds them all; every primary is scanned all the same (a slot may be migrating), and
 * the user is deleted on every node (ACL users are per node). The pattern ends in `:`, so
 * purging tenant 2 never touches `{t20}:` (keyspace.ts).
 */
export async function purgeTenantKeys(config: ValkeyTarget, tenantId: number): Promise<TenantKeysPurge> {
  return withEveryNode(config, async (nodes, primary) => {
    const holders = nodes.filter(primary);
    let before = 0;
    let deleted = 0;
    for (const node of holders) {
      for await (const batch of scanTenant(node, tenantId)) {
        before += batch.length;
        deleted += batch.length ? Number(await node.unlink(...batch)) : 0;
      }
    }
    let after = 0;
    for (const node of holders) for await (const batch of scanTenant(node, tenantId)) after += batch.length;
    let removed = 0;
    for (const node of nodes) removed += Number(await node.call('ACL', 'DELUSER', tenantUser(tenantId)));
    return { keys: { before, deleted, after }, aclUser: removed > 0 ? 'removed' : 'absent' };
  });
}

/** How many `{t<ID>}:` keys there are (a fresh SCAN of every primary). */
export async function countTenantKeys(config: ValkeyTarget, tenantId: number): Promise<number> {
  return withEveryNode(config, async (nodes, primary) => {
    let count = 0;
    for (const node of nodes.filter(primary))
      for await (const batch of scanTenant(node, tenantId)) count += batch.length;
    return count;
  });
}

/**
 * `tenant_<ID>` for `tenantql tenants provision`, with the rules of `tenantql valkey-acl`, when
 * the server uses ACLs (some `tenant_<n>` user exists). A user on every node is left as it is
 * unless `rotate`. Resolves whether `password` was set, to print once.
 */
export async function provisionAclUser(
  config: ValkeyTarget,
  tenant: { id: number; disabled: boolean },
  password: string,
  rotate: boolean,
): Promise<'created' | 'kept' | 'rotated' | 'completed' | 'not in use'> {
  return withEveryNode(config, async (nodes) => {
    const usersOf = (await Promise.all(nodes.map((n) => n.call('ACL', 'USERS')))) as string[][];
    const user = tenantUser(tenant.id);
    const holders = usersOf.filter((users) => users.includes(user)).length;
    if (holders === 0 && !usersOf.flat().some((name) => /^tenant_[0-9]+$/.test(name))) return 'not in use';
    if (holders === nodes.length && !rotate) return 'kept';
    // On some nodes only (a run cut short before it printed the password, or a node added
    // since): ACL users are per node, so a new password on every node, shown once.
    for (const node of nodes) await node.call('ACL', 'SETUSER', user, ...tenantRules(tenant, password));
    return holders === 0 ? 'created' : holders === nodes.length ? 'rotated' : 'completed';
  });
}

async function* scanTenant(node: Redis, tenantId: number): AsyncGenerator<string[]> {
  let cursor = '0';
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', tenantPattern(tenantId), 'COUNT', 1000);
    cursor = next;
    yield keys;
  } while (cursor !== '0');
}
