/**
 * FAST_PATH: `1` or `true` (the default), `0` or `false` (every request runs its resolvers).
 * Read apart from config.ts for now, with the same rules as its flags (PG_PREPARED_STATEMENTS).
 */
export const FAST_PATH_DEFAULT = true;

export function fastPathSetting(
  env: Readonly<Record<string, string | undefined>>,
): { ok: true; enabled: boolean } | { ok: false; problem: string } {
  const value = env.FAST_PATH;
  if (value === undefined || value === '') return { ok: true, enabled: FAST_PATH_DEFAULT };
  if (value === '1' || value === 'true') return { ok: true, enabled: true };
  if (value === '0' || value === 'false') return { ok: true, enabled: false };
  return { ok: false, problem: `FAST_PATH: expected 0, 1, true or false, got ${JSON.stringify(value)}` };
}
