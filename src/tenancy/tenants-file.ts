import { readFileSync } from 'node:fs';
import { z } from 'zod';

export type TenantKind = 'system' | 'virtual' | 'regular';

/** Where a tenant's rows live (SPEC §10): the shared database, or a database of its own. */
export type Isolation = 'shared' | 'database';

export interface RateLimit {
  readonly requests: number;
  readonly perSeconds: number;
}

export interface Tenant {
  readonly id: number;
  readonly subdomain: string;
  readonly name: string;
  readonly kind: TenantKind;
  readonly domains: readonly string[];
  readonly disabled: boolean;
  readonly statementTimeoutMs: number;
  readonly rateLimit: RateLimit;
  /** Tenants a virtual tenant may act on; `[]` for every other kind. */
  readonly grants: readonly number[] | '*';
  /** Always `shared` for the system and virtual tenants. */
  readonly isolation: Isolation;
  /**
   * The tenant's ids at identity providers (an Auth0 or Zitadel organisation id): a user token's
   * tenant claim may hold one instead of the tenant id (SPEC §6). Unique across the file; `[]`
   * for virtual tenants, whose service tokens name their id.
   */
  readonly externalIds: readonly string[];
}

export interface TenantsConfig {
  readonly baseDomain: string;
  readonly tenants: readonly Tenant[];
}

export type ParseResult = { ok: true; config: TenantsConfig } | { ok: false; problems: string[] };

const MAX_ID = 2_147_483_647;
const DEFAULT_STATEMENT_TIMEOUT_MS = 5000;
const DEFAULT_RATE_LIMIT: RateLimit = { requests: 600, perSeconds: 60 };

/**
 * A tenant id (1..2^31-1) as a JSON number or a canonical string of digits: how a token's tenant
 * claim names one. "2.0", "02", " 2", [2], true and null are refused rather than coerced.
 */
export function parseTenantId(value: unknown): number | undefined {
  const id =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^[1-9][0-9]{0,9}$/.test(value)
        ? Number(value)
        : NaN;
  return Number.isInteger(id) && id >= 1 && id <= MAX_ID ? id : undefined;
}

/** 1 is the system tenant, 80–99 are peer servers, every other id is a customer. */
export function tenantKind(id: number): TenantKind {
  if (id === 1) return 'system';
  return id >= 80 && id <= 99 ? 'virtual' : 'regular';
}

// Bounded quantifiers only: a hostile file cannot make matching slow.
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const isLabel = (value: unknown): value is string => typeof value === 'string' && LABEL.test(value);
const isHostName = (value: unknown): value is string =>
  typeof value === 'string' && value.length <= 253 && value.split('.').every((label) => LABEL.test(label));
const isId = (value: unknown): value is number =>
  Number.isInteger(value) && (value as number) >= 1 && (value as number) <= MAX_ID;
/** Control characters could never come from an identity provider and hide in a log line. */
const isExternalId = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= 255 && !/\p{Cc}/u.test(value);
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A missing field says so; a present but wrong one gets the field's own rule. */
const rule = (text: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? 'is required' : text;

const int = (min: number, max: number, text = `must be an integer from ${min} to ${max}`) =>
  z
    .int({ error: rule(text) })
    .min(min, { error: text })
    .max(max, { error: text });
const string = (text: string, test: (value: string) => boolean) =>
  z.string({ error: rule(text) }).refine(test, { error: text });

const tenantId = int(1, MAX_ID);
const hostName = string('must be a lowercase host name', isHostName);
const statementTimeoutMs = int(1, 3_600_000);
// A canonical id string in a token already names that tenant by id (parseTenantId): as an
// external id of another tenant it would be ambiguous.
const externalId = string(
  'must be a non-empty string of at most 255 characters, without control characters',
  isExternalId,
).refine((value) => parseTenantId(value) === undefined, {
  error: 'must not be a tenant id (a token holding it names that tenant by id)',
});
const positive = int(1, Number.MAX_SAFE_INTEGER, 'must be an integer of at least 1');
const rateLimit = z.strictObject(
  { requests: positive, perSeconds: positive },
  { error: rule('must be an object { requests, perSeconds }') },
);

const tenant = z.strictObject(
  {
    id: tenantId,
    subdomain: string('must be a lowercase DNS label (a-z, 0-9, inner "-", 1 to 63 characters)', isLabel),
    name: string('must be a non-empty string', (name) => name.length > 0),
    domains: z.array(hostName, { error: rule('must be an array of host names') }).optional(),
    disabled: z.boolean({ error: rule('must be true or false') }).optional(),
    statementTimeoutMs: statementTimeoutMs.optional(),
    rateLimit: rateLimit.optional(),
    grants: z
      .union([z.literal('*'), z.array(tenantId)], { error: rule('must be "*" or an array of tenant ids') })
      .optional(),
    isolation: z.enum(['shared', 'database'], { error: rule('must be "shared" or "database"') }).optional(),
    externalIds: z.array(externalId, { error: rule('must be an array of strings') }).optional(),
  },
  { error: rule('must be an object') },
);

const tenantsFile = z.strictObject(
  {
    baseDomain: hostName,
    defaults: z
      .strictObject(
        { statementTimeoutMs: statementTimeoutMs.optional(), rateLimit: rateLimit.optional() },
        { error: rule('must be an object') },
      )
      .optional(),
    tenants: z
      .array(tenant, { error: rule('must be a non-empty array of tenants') })
      .min(1, { error: 'must be a non-empty array of tenants' }),
  },
  { error: 'must be a JSON object' },
);

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out || '(root)';
}

function problemsOf(issues: readonly z.core.$ZodIssue[], base: readonly PropertyKey[] = []): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push(`${formatPath([...path, key])}: unknown key`);
      continue;
    }
    if (issue.code === 'invalid_union') {
      // When one branch matched the type (an array) and only its items failed, point at those items.
      const branch = issue.errors.find(
        (list) => list.length > 0 && list.every((inner) => inner.path.length > 0),
      );
      if (branch) {
        out.push(...problemsOf(branch, path));
        continue;
      }
    }
    out.push(`${formatPath(path)}: ${issue.message}`);
  }
  return out;
}

/**
 * Rules that span tenants. They read the raw JSON, using only the fields that are valid on their own,
 * so a bad name in one tenant does not hide a duplicate subdomain in another.
 */
function crossCheck(raw: unknown): string[] {
  if (!isRecord(raw) || !Array.isArray(raw.tenants)) return [];
  const problems: string[] = [];
  const entries = raw.tenants.map((t, i) => ({ at: `tenants[${i}]`, t: isRecord(t) ? t : {} }));
  const base = isHostName(raw.baseDomain) ? raw.baseDomain : undefined;

  const ids = new Set<number>();
  const subdomains = new Map<string, string>(); // subdomain -> where it was first seen
  for (const { at, t } of entries) {
    if (isId(t.id)) {
      const note = t.id === 1 ? ' (only one system tenant is allowed)' : '';
      if (ids.has(t.id)) problems.push(`${at}.id: duplicate ${t.id}${note}`);
      ids.add(t.id);
    }
    if (isLabel(t.subdomain)) {
      if (subdomains.has(t.subdomain)) problems.push(`${at}.subdomain: duplicate "${t.subdomain}"`);
      else subdomains.set(t.subdomain, at);
    }
  }

  const domains = new Set<string>();
  for (const { at, t } of entries) {
    const list: unknown[] = Array.isArray(t.domains) ? t.domains : [];
    list.forEach((domain, j) => {
      if (!isHostName(domain)) return;
      if (domains.has(domain)) problems.push(`${at}.domains[${j}]: duplicate "${domain}"`);
      domains.add(domain);
      const owner = base && domain.endsWith(`.${base}`) && subdomains.get(domain.slice(0, -base.length - 1));
      if (owner) problems.push(`${at}.domains[${j}]: "${domain}" is already the host of ${owner}`);
      // The bare base domain must stay no tenant's host (SPEC §5: it answers 404).
      if (domain === base) problems.push(`${at}.domains[${j}]: "${domain}" is the base domain`);
    });
  }

  for (const { at, t } of entries) {
    if (t.isolation !== undefined && isId(t.id) && tenantKind(t.id) !== 'regular') {
      problems.push(`${at}.isolation: only regular tenants may have a database of their own`);
    }
  }

  const externalIds = new Map<string, string>(); // external id -> where it was first seen
  for (const { at, t } of entries) {
    if (t.externalIds !== undefined && isId(t.id) && tenantKind(t.id) === 'virtual') {
      problems.push(`${at}.externalIds: virtual tenants have none (their service tokens name their id)`);
    }
    const list: unknown[] = Array.isArray(t.externalIds) ? t.externalIds : [];
    list.forEach((id, j) => {
      if (!isExternalId(id)) return;
      const first = externalIds.get(id);
      if (first)
        problems.push(`${at}.externalIds[${j}]: duplicate ${JSON.stringify(id)} (first in ${first})`);
      else externalIds.set(id, at);
    });
  }

  // An id that failed its own rule may be the one a grant names: do not pile a second problem on it.
  const allIdsValid = entries.every(({ t }) => isId(t.id));
  for (const { at, t } of entries) {
    if (t.grants === undefined) continue;
    if (isId(t.id) && tenantKind(t.id) !== 'virtual') {
      problems.push(`${at}.grants: only virtual tenants (ids 80 to 99) may have grants`);
      continue;
    }
    const granted = new Set<number>();
    const list: unknown[] = Array.isArray(t.grants) ? t.grants : [];
    list.forEach((id, j) => {
      if (!isId(id)) return;
      if (granted.has(id)) problems.push(`${at}.grants[${j}]: duplicate ${id}`);
      else if (!ids.has(id) && allIdsValid)
        problems.push(`${at}.grants[${j}]: no tenant with id ${id} in this file`);
      else if (tenantKind(id) !== 'regular')
        problems.push(`${at}.grants[${j}]: tenant ${id} is not a regular tenant`);
      granted.add(id);
    });
  }
  return problems;
}

type ValidFile = z.infer<typeof tenantsFile>;

function defaultsOf(file: Pick<ValidFile, 'defaults'>) {
  return {
    statementTimeoutMs: file.defaults?.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
    rateLimit: file.defaults?.rateLimit ?? DEFAULT_RATE_LIMIT,
  };
}

function buildTenant(t: z.infer<typeof tenant>, defaults: ReturnType<typeof defaultsOf>): Tenant {
  return Object.freeze({
    id: t.id,
    subdomain: t.subdomain,
    name: t.name,
    kind: tenantKind(t.id),
    domains: Object.freeze([...(t.domains ?? [])]),
    disabled: t.disabled ?? false,
    statementTimeoutMs: t.statementTimeoutMs ?? defaults.statementTimeoutMs,
    rateLimit: Object.freeze({ ...(t.rateLimit ?? defaults.rateLimit) }),
    grants: t.grants === '*' ? '*' : Object.freeze([...(t.grants ?? [])]),
    isolation: t.isolation ?? 'shared',
    externalIds: Object.freeze([...(t.externalIds ?? [])]),
  });
}

function build(file: ValidFile): TenantsConfig {
  const defaults = defaultsOf(file);
  const tenants = file.tenants.map((t) => buildTenant(t, defaults));
  return Object.freeze({ baseDomain: file.baseDomain, tenants: Object.freeze(tenants) });
}

/** Validates a whole tenants file and lists every problem as `<json path>: <message>`. */
export function parseTenantsFile(text: string): ParseResult {
  const raw = parseJson(text);
  return 'problems' in raw ? raw : validate(raw.value);
}

/** Like parseTenantsFile, and an unreadable file is a problem naming its path. */
export async function readTenantsFile(path: string): Promise<ParseResult> {
  const text = readText(path);
  return typeof text === 'string' ? parseTenantsFile(text) : text;
}

/**
 * readTenantsFile for a server that reads the same file again on every SIGHUP. Each read is
 * checked exactly as readTenantsFile checks it, with the same problems, but a tenant entry
 * equal (as JSON) to one of the last valid read is not validated and built again: the last
 * read's Tenant object serves, so a reload of 10,000 tenants with one edited costs about one
 * JSON.parse (and the tenant set's diff sees unchanged tenants by identity). The rules that
 * span tenants (duplicates, grants) run over the whole file every time.
 */
export function tenantsFileReader(): (path: string) => Promise<ParseResult> {
  let last: { raw: Record<string, unknown>; entries: readonly unknown[]; config: TenantsConfig } | undefined;
  return async (path) => {
    const text = readText(path);
    if (typeof text !== 'string') return text;
    const parsed = parseJson(text);
    if ('problems' in parsed) return parsed;
    const raw = parsed.value;
    const result = (last && reusing(raw, last)) ?? validate(raw);
    if (result.ok)
      last = {
        raw: raw as Record<string, unknown>,
        entries: (raw as ValidFile).tenants,
        config: result.config,
      };
    return result;
  };
}

/**
 * The file checked against the last valid one: undefined when its top level differs (the
 * whole file is validated then), else the result, validating only the entries that changed.
 */
function reusing(
  raw: unknown,
  last: { raw: Record<string, unknown>; entries: readonly unknown[]; config: TenantsConfig },
): ParseResult | undefined {
  if (!isRecord(raw) || !Array.isArray(raw.tenants) || raw.tenants.length === 0) return undefined;
  if (Object.keys(raw).some((key) => key !== 'tenants' && key !== 'baseDomain' && key !== 'defaults'))
    return undefined;
  if (!sameJson(raw.baseDomain, last.raw.baseDomain) || !sameJson(raw.defaults, last.raw.defaults))
    return undefined;
  const defaults = defaultsOf(last.raw as Pick<ValidFile, 'defaults'>);
  let lastById: Map<unknown, number> | undefined;
  const tenants: Tenant[] = [];
  for (const [i, entry] of raw.tenants.entries()) {
    // Same place first (an edit in place); else the same id elsewhere (entries added or removed before it).
    let at: number | undefined = i;
    if (!sameJson(entry, last.entries[i])) {
      lastById ??= new Map(last.entries.map((e, j) => [isRecord(e) ? e.id : undefined, j]));
      at = isRecord(entry) ? lastById.get(entry.id) : undefined;
      if (at !== undefined && !sameJson(entry, last.entries[at])) at = undefined;
    }
    if (at !== undefined) {
      tenants.push(last.config.tenants[at]!);
      continue;
    }
    const one = tenant.safeParse(entry);
    if (!one.success) return undefined; // the whole file's problems, as parseTenantsFile lists them
    tenants.push(buildTenant(one.data, defaults));
  }
  const problems = [...new Set(crossCheck(raw))];
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    config: Object.freeze({ baseDomain: raw.baseDomain as string, tenants: Object.freeze(tenants) }),
  };
}

/** Equal as JSON values (what JSON.parse makes: no undefined, no cycles). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]))
    );
  }
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every(
    (key) =>
      Object.hasOwn(b, key) &&
      sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
  );
}

function parseJson(text: string): { value: unknown } | { ok: false; problems: string[] } {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // editors on Windows add a BOM
  if (body.trim() === '') return { ok: false, problems: ['(root): the file is empty'] };
  try {
    return { value: JSON.parse(body) };
  } catch (error) {
    return { ok: false, problems: [`(root): invalid JSON: ${(error as Error).message}`] };
  }
}

function validate(raw: unknown): ParseResult {
  const parsed = tenantsFile.safeParse(raw);
  const problems = [
    ...new Set([...(parsed.success ? [] : problemsOf(parsed.error.issues)), ...crossCheck(raw)]),
  ];
  if (!parsed.success || problems.length > 0) return { ok: false, problems };
  return { ok: true, config: build(parsed.data) };
}

/**
 * Read in one synchronous call: a local file of at most a few megabytes costs the event loop a
 * few milliseconds, where fs.promises.readFile's steps (open, stat, reads, close) each wait
 * for a turn of the loop, and under load a reload spent most of its time waiting for them.
 */
function readText(path: string): string | { ok: false; problems: string[] } {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    return { ok: false, problems: [`${path}: cannot read the file (${code ?? message})`] };
  }
}
