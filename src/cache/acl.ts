import { randomBytes } from 'node:crypto';
import type { Tenant } from '../tenancy/tenants-file.js';
import { tenantPattern } from './keyspace.js';

/**
 * Commands a tenant's own workers may not run even on their own keys, because they ignore key
 * patterns and reach the whole server (catalogue E2, valkey-io/valkey#370) or disturb other
 * clients. Checked against Redis 7.0 and Valkey: every rule is accepted by ACL SETUSER.
 */
const TENANT_DENIED = [
  '-@dangerous', // KEYS, FLUSHALL, FLUSHDB, INFO, MONITOR, DEBUG, SORT … BY, MIGRATE, SWAPDB
  '-@admin', // CONFIG, CLIENT KILL/LIST/PAUSE, SLOWLOG, ACL LIST, SHUTDOWN, REPLICAOF
  '-keys',
  '-scan',
  '-randomkey',
  '-flushall',
  '-flushdb',
  '-dbsize', // counts every tenant's keys
  '-pubsub', // PUBSUB CHANNELS lists other tenants' channels
  '-select', // logical databases are not ours to hand out; cluster mode has only db 0
  '-move',
  '-function', // functions and scripts are server-wide: loading or flushing them affects everyone
  '-script|flush',
  '-script|kill',
  '-cluster|getkeysinslot', // lists any slot's keys
  '-cluster|countkeysinslot',
];

/** Every rule that names a pattern ends with `:*`, so tenant 2 never matches `{t20}:` (E3). */
export function tenantRules(tenant: Pick<Tenant, 'id' | 'disabled'>, password: string): string[] {
  const pattern = tenantPattern(tenant.id);
  return [
    'reset',
    tenant.disabled ? 'off' : 'on',
    `>${password}`,
    'resetkeys',
    `~${pattern}`,
    'resetchannels',
    `&${pattern}`,
    '+@all',
    ...TENANT_DENIED,
  ];
}

/**
 * The server's own user: every tenant prefix and `{sys}:`, nothing else. It keeps INFO
 * (ioredis' ready check) and what cluster clients need (CLUSTER SLOTS/SHARDS are not admin).
 */
export function serverRules(password: string): string[] {
  return [
    'reset',
    'on',
    `>${password}`,
    'resetkeys',
    '~{sys}:*',
    '~{t*}:*',
    'resetchannels',
    '&{sys}:*',
    '&{t*}:*',
    '+@all',
    '-@dangerous',
    '-@admin',
    '+info',
    '-keys',
    '-scan',
    '-randomkey',
    '-flushall',
    '-flushdb',
    '-select',
  ];
}

export const tenantUser = (tenantId: number) => `tenant_${tenantId}`;

/** 32 random bytes, base64url: no space or `>`/`<` that ACL SETUSER would misread. */
export const generatePassword = () => randomBytes(32).toString('base64url');

/** The line an operator can paste into valkey-cli (or pipe to it). */
export function aclLine(user: string, rules: readonly string[]): string {
  return ['ACL', 'SETUSER', user, ...rules].join(' ');
}
