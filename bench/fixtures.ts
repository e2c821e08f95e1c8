import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { signToken } from '../src/auth/verify.js';
import { encodeGlobalId } from '../src/graphql/ids.js';
import { FIRST_TENANT, seededTenantIds, type TenantIds } from './seed.js';

export const BASE_DOMAIN = 'localhost';
export const BIG_TENANT_COUNT = 10_000;

export const QUERIES = {
  hello: '{ hello }',
  tenant: '{ tenant { name } }',
  nested:
    '{ projects(first: 20) { edges { node { name tasks(first: 10) { edges { node { title status assignee { name } } } } } } } }',
  /** C plus `tenant { id }`, so each body says whose it is (the reload check reads it). */
  nestedWithTenant:
    '{ tenant { id } projects(first: 20) { edges { node { name tasks(first: 10) { edges { node { title status assignee { name } } } } } } } }',
  /**
   * C's logical query in PostGraphile 4's generated schema (scenario P): the first 20 projects,
   * the first 10 tasks of each through the (tenant_id, project_id) foreign key, their assignees
   * through (tenant_id, assignee_id); both servers order by id within the tenant.
   */
  nestedPostgraphile:
    '{ allProjects(first: 20, orderBy: PRIMARY_KEY_ASC) { nodes { name tasksByTenantIdAndProjectId(first: 10, orderBy: PRIMARY_KEY_ASC) { nodes { title status memberByTenantIdAndAssigneeId { name } } } } } }',
  /** Scenario M: 100 members with their emails, encrypted (M) or stored as plaintext (M₀). */
  members: '{ members(first: 100) { edges { node { id name email } } } }',
  createTask: 'mutation ($input: CreateTaskInput!) { createTask(input: $input) { id title } }',
  updateTask: 'mutation ($input: UpdateTaskInput!) { updateTask(input: $input) { id status } }',
} as const;

export const hostOf = (id: number) => `b${id}.${BASE_DOMAIN}`;

/**
 * The tenants file with `count` tenants from FIRST_TENANT on. The 10,000-tenant file starts with
 * the same 200 seeded tenants, so F differs from B and C only in the size of the file. The rate
 * limit is out of reach: the bench measures serving, not throttling.
 */
export function tenantsFile(count: number, variant = 0) {
  const tenants = Array.from({ length: count }, (_, i) => ({
    id: FIRST_TENANT + i,
    subdomain: `b${FIRST_TENANT + i}`,
    // The variant renames the last tenant (never a seeded one): each reload has a real diff.
    name:
      i === count - 1 && variant
        ? `Bench tenant ${FIRST_TENANT + i} v${variant}`
        : `Bench tenant ${FIRST_TENANT + i}`,
  }));
  return {
    baseDomain: BASE_DOMAIN,
    defaults: { statementTimeoutMs: 5000, rateLimit: { requests: 1_000_000_000, perSeconds: 1 } },
    tenants,
  };
}

/** Written to a temporary name and renamed, so a reload never reads half a file. */
export async function writeJsonAtomically(path: string, value: unknown): Promise<void> {
  await writeFile(`${path}.tmp`, JSON.stringify(value));
  await rename(`${path}.tmp`, path);
}

export interface Tokens {
  secret: string;
  /** `Bearer <jwt>` per seeded tenant id. */
  byTenant: Map<number, string>;
}

export async function userTokens(secret: string): Promise<Tokens> {
  const byTenant = new Map<number, string>();
  for (const id of seededTenantIds()) {
    const jwt = await signToken({
      kind: 'user',
      secret,
      subject: `bench-user-${id}`,
      tenantClaim: 'tid',
      tenantId: id,
      // Well inside JWT_MAX_TTL_SECONDS (7 days by default), which a longer token would fail.
      ttl: '6h',
      // The role said outright, as an identity provider would: the current code reads it (absent,
      // it would default to member all the same); a baseline from before roles ignores it.
      claims: { roles: ['member'] },
    });
    byTenant.set(id, `Bearer ${jwt}`);
  }
  return { secret, byTenant };
}

export interface RequestLine {
  host: string;
  authorization: string;
  body: string;
}

const body = (query: string, variables?: unknown) =>
  JSON.stringify(variables ? { query, variables } : { query });

/** One request per seeded tenant (or per one of `tenants`), Host and token matching. */
export function perTenant(
  tokens: Tokens,
  query: string,
  withToken = true,
  tenants: readonly number[] = seededTenantIds(),
): RequestLine[] {
  return tenants.map((id) => ({
    host: hostOf(id),
    authorization: withToken ? tokens.byTenant.get(id)! : '',
    body: body(query),
  }));
}

/** Scenario E: createTask / updateTask alternately, over `tenants` (default: every seeded tenant, in turn). */
export function writeMix(
  tokens: Tokens,
  ids: Map<number, TenantIds>,
  count: number,
  tenants: readonly number[] = seededTenantIds(),
): RequestLine[] {
  const lines: RequestLine[] = [];
  const statuses = ['TODO', 'IN_PROGRESS', 'DONE'];
  for (let i = 0; i < count; i++) {
    const id = tenants[i % tenants.length]!;
    const own = ids.get(id);
    if (!own) throw new Error(`tenant ${id} has no seeded rows`);
    const round = Math.floor(i / tenants.length);
    const request =
      i % 2 === 0
        ? body(QUERIES.createTask, {
            input: {
              projectId: encodeGlobalId('Project', id, own.projects[round % own.projects.length]!),
              title: `T${id} bench ${i}`,
            },
          })
        : body(QUERIES.updateTask, {
            input: {
              id: encodeGlobalId('Task', id, own.tasks[round % own.tasks.length]!),
              status: statuses[round % 3],
            },
          });
    lines.push({ host: hostOf(id), authorization: tokens.byTenant.get(id)!, body: request });
  }
  return lines;
}

/** The file bench/wrk.lua reads: host, authorization, body, tab-separated, one request a line. */
export async function writeRequests(dir: string, name: string, lines: RequestLine[]): Promise<string> {
  const path = join(dir, `requests-${name}.tsv`);
  await writeFile(path, `${lines.map((l) => `${l.host}\t${l.authorization}\t${l.body}`).join('\n')}\n`);
  return path;
}
