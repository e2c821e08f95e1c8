import { inspect } from 'node:util';
import { masterKeyId } from './key-wrap.js';

/**
 * TENANT_MASTER_KEY and TENANT_MASTER_KEY_NEW (SPEC §12): base64 of exactly 32 bytes. Problems
 * name the variable, never the value. Outside production a missing key is the documented
 * development key below, with one warning: it protects nothing, since it is public.
 */
export interface MasterKeys {
  readonly current: Buffer;
  /** Set during `tenantql keys rotate-master`: the server opens keys wrapped by either. */
  readonly next?: Buffer;
  /** The development key is in use. */
  readonly dev: boolean;
}

/** Public, for development only: `tenantql start` warns while it is in use. */
export const DEV_MASTER_KEY = Buffer.from('tenantql development master key!', 'utf8');

export const DEV_KEY_WARNING =
  'TENANT_MASTER_KEY is not set: using the public development key, which protects nothing (set it with `openssl rand -base64 32`; required with NODE_ENV=production)';

export function parseMasterKey(name: string, value: string): Buffer | string {
  const text = value.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0)
    return `${name}: must be base64 (of 32 random bytes)`;
  const key = Buffer.from(text, 'base64');
  return key.length === 32
    ? key
    : `${name}: must be base64 of exactly 32 bytes (it decodes to ${key.length})`;
}

export function readMasterKeys(
  env: { TENANT_MASTER_KEY?: string | undefined; TENANT_MASTER_KEY_NEW?: string | undefined },
  production: boolean,
): { ok: true; keys: MasterKeys; warnings: string[] } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  let current: Buffer | undefined;
  if (env.TENANT_MASTER_KEY === undefined || env.TENANT_MASTER_KEY === '') {
    if (production)
      problems.push('TENANT_MASTER_KEY: required with NODE_ENV=production (base64 of 32 random bytes)');
  } else {
    const parsed = parseMasterKey('TENANT_MASTER_KEY', env.TENANT_MASTER_KEY);
    if (typeof parsed === 'string') problems.push(parsed);
    else current = parsed;
  }
  let next: Buffer | undefined;
  if (env.TENANT_MASTER_KEY_NEW) {
    const parsed = parseMasterKey('TENANT_MASTER_KEY_NEW', env.TENANT_MASTER_KEY_NEW);
    if (typeof parsed === 'string') problems.push(parsed);
    else next = parsed;
  }
  if (current && next?.equals(current))
    problems.push('TENANT_MASTER_KEY_NEW: is the same key as TENANT_MASTER_KEY');
  if (problems.length > 0) return { ok: false, problems };
  const dev = current === undefined;
  return {
    ok: true,
    keys: keySet(current ?? DEV_MASTER_KEY, next, dev),
    warnings: dev ? [DEV_KEY_WARNING] : [],
  };
}

/**
 * The keys as the configuration holds them: serialised (a logged config) or inspected
 * (console.log), they show their public ids, never their bytes.
 */
function keySet(current: Buffer, next: Buffer | undefined, dev: boolean): MasterKeys {
  const ids = () => ({ current: masterKeyId(current), ...(next ? { next: masterKeyId(next) } : {}), dev });
  return Object.defineProperties(
    { current, ...(next ? { next } : {}), dev },
    { toJSON: { value: ids }, [inspect.custom]: { value: ids } },
  );
}
