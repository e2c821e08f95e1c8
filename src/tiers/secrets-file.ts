import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { RoleCredentials, TenantCredentials } from '../db/dedicated-pools.js';

/**
 * TENANT_SECRETS_FILE (SPEC §10): the passwords of dedicated tenants' roles, written by
 * `tenantql tenants provision`, read by the server at start and on every reload. Mode 0600 in
 * a 0700 directory; never in the tenants file, never logged. Errors name the file and the
 * entry, never a value.
 */

export type { RoleCredentials, TenantCredentials };

export type TenantSecrets = ReadonlyMap<number, TenantCredentials>;

export type SecretsResult = { ok: true; secrets: TenantSecrets } | { ok: false; problems: string[] };

const role = z.strictObject({ user: z.string().min(1), password: z.string().min(1) });
const file = z.strictObject({
  version: z.literal(1),
  tenants: z.record(
    z.string().regex(/^[1-9][0-9]{0,9}$/),
    z.strictObject({ database: z.string().min(1), rw: role, ro: role }),
  ),
});

/** A missing file is an empty one: no tenant has been provisioned on this machine yet. */
export async function readSecretsFile(path: string): Promise<SecretsResult> {
  let text: string;
  try {
    // Synchronous, as the tenants file is read (tenants-file.ts readText): a reload waits for
    // it before the swap, and each asynchronous step would wait for a turn of a busy loop.
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    if (code === 'ENOENT') return { ok: true, secrets: new Map() };
    return { ok: false, problems: [`${path}: cannot read the file (${code ?? message})`] };
  }
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    return {
      ok: false,
      problems: [`${path}: readable by others (mode ${mode.toString(8)}); chmod 600 it`],
    };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, problems: [`${path}: not valid JSON`] };
  }
  const parsed = file.safeParse(raw);
  if (!parsed.success) {
    // The path of each problem only: a message could quote a value, and values are secrets.
    const at = [...new Set(parsed.error.issues.map((issue) => issue.path.join('.') || '(root)'))];
    return { ok: false, problems: at.map((where) => `${path}: ${where}: malformed entry`) };
  }
  return {
    ok: true,
    secrets: new Map(Object.entries(parsed.data.tenants).map(([id, entry]) => [Number(id), entry])),
  };
}

/**
 * Replaces the file atomically (a reader sees the old file or the new, never half of one):
 * written to a sibling with mode 0600 from its creation, then renamed over.
 */
export async function writeSecretsFile(path: string, secrets: TenantSecrets): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tenants = Object.fromEntries([...secrets].sort(([a], [b]) => a - b).map(([id, c]) => [id, c]));
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temporary, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify({ version: 1, tenants }, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(temporary, 0o600); // a umask cannot widen it, but an existing file kept its mode
  await rename(temporary, path);
}
