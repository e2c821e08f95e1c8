import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import { encodeGlobalId, parseGlobalId } from '../../src/graphql/ids.js';
import type { GraphQLResponse, TestApp } from './app.js';
import { withClient } from './db.js';
import type { OpenSubscription, TaskEvent } from './isolation-events.js';
import { superuserUrlOf } from './tiers.js';

/**
 * The tiny in-memory model behind isolation-property.test.ts, the real side it drives, and
 * the invariants checked after every step. Every name and email carries its tenant's marker
 * `~t<ID>~`, so any string a response carries can be traced to the tenant that wrote it.
 */
export const TENANTS = [2, 3, 4] as const;
export type TenantId = (typeof TENANTS)[number];

/** Hosts per tenant, spelled as clients may send them (case, trailing dot, port, custom domain). */
export const HOSTS: Record<TenantId, readonly string[]> = {
  2: ['tenant1.localhost', 'TENANT1.localhost', 'tenant1.localhost.', 'tenant1.localhost:4000'],
  3: ['tenant2.localhost', 'graphql.tenant-two.test', 'Tenant2.Localhost:443'],
  4: ['tenant3.localhost', 'tenant3.localhost.'],
};

export const marker = (tenant: number) => `~t${tenant}~`;
const MARKER = /~t(\d+)~/g;
export const MISSING_ROW = '999999999999';

export interface TaskState {
  title: string;
  projectId: string;
  assigneeId: string | null;
  status: string;
}

export interface TenantModel {
  projects: Map<string, string>; // global id -> name
  members: Map<string, string>; // global id -> email
  tasks: Map<string, TaskState>;
}

export interface Model {
  tenants: Map<number, TenantModel>;
  /** Every row id ever created, whichever tenant, deleted ones included: what commands pick from. */
  pool: string[];
  owner: Map<string, number>;
  /** Numbers the names and emails a run creates. */
  seq: number;
  /** Per tenant, the task changes its subscribers must receive, in commit order. */
  events: Map<number, TaskEvent[]>;
  subscriptions: number;
}

export interface Principal {
  label: string;
  headers: Record<string, string>;
}

/** A credential that must be refused on a tenant's hosts, with the answer expected. */
export interface WrongCredential extends Principal {
  status: number;
  code: string;
}

export interface Real {
  t: TestApp;
  principals: Map<number, Principal[]>;
  wrongCredentials: Map<number, WrongCredential[]>;
  /** The app's Valkey, to see when a subscription is in place. */
  valkey: Redis;
  subscriptions: OpenSubscription[];
  stats: { commands: number; requests: number; events: number };
}

export function emptyModel(): Model {
  const tenants = new Map<number, TenantModel>();
  const events = new Map<number, TaskEvent[]>();
  for (const id of TENANTS) {
    tenants.set(id, { projects: new Map(), members: new Map(), tasks: new Map() });
    events.set(id, []);
  }
  return { tenants, pool: [], owner: new Map(), seq: 0, events, subscriptions: 0 };
}

export function emit(
  model: Model,
  tenant: number,
  kind: TaskEvent['kind'],
  taskId: string,
  projectId: string,
): void {
  model.events.get(tenant)!.push({ kind, taskId, projectId });
}

export function remember(model: Model, tenant: number, id: string): void {
  model.owner.set(id, tenant);
  model.pool.push(id);
}

/** The same type and tenant as `id`, but a row that never existed. */
export const missingLike = (id: string) => {
  const { typename, tenantId } = parseGlobalId(id)!;
  return encodeGlobalId(typename, tenantId, MISSING_ROW);
};

export async function send(
  real: Real,
  tenant: TenantId,
  hostIndex: number,
  principalIndex: number,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<GraphQLResponse> {
  const hosts = HOSTS[tenant];
  const principals = real.principals.get(tenant)!;
  const principal = principals[principalIndex % principals.length]!;
  real.stats.requests++;
  const res = await real.t.gql(hosts[hostIndex % hosts.length]!, query, {
    variables,
    headers: principal.headers,
  });
  return res;
}

/**
 * The isolation invariant, on every response: each marker and each row id in it belongs to
 * `tenant`. Runs before any command-specific expectation.
 */
export function expectOwn(model: Model, tenant: number, res: GraphQLResponse, step: string): void {
  const text = JSON.stringify(res.body);
  for (const [, id] of text.matchAll(MARKER))
    expect(Number(id), `${step}: foreign marker in ${text}`).toBe(tenant);
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) walk(item);
      return;
    }
    if (!value || typeof value !== 'object') return;
    const record = value as Record<string, unknown>;
    if (typeof record.id === 'string' && ['Project', 'Task', 'Member'].includes(String(record.__typename))) {
      expect(model.owner.get(record.id), `${step}: row ${record.id} of another tenant in ${text}`).toBe(
        tenant,
      );
    }
    for (const item of Object.values(record)) walk(item);
  };
  walk(res.body.data);
}

export const codeOf = (res: GraphQLResponse) => res.body.errors?.[0]?.extensions?.code;

/** A foreign (or deleted) id must answer exactly like one that never existed. */
export function expectLikeMissing(res: GraphQLResponse, control: GraphQLResponse, step: string): void {
  expect({ status: res.status, body: res.body }, `${step}: differs from a missing id`).toEqual({
    status: control.status,
    body: control.body,
  });
}

/** Empties the tenant tables and seeds one marker project, member and task per tenant. */
export async function resetDatabase(t: TestApp, model: Model): Promise<void> {
  // Each tenant's rows where they live: the shared database, or a dedicated tenant's own.
  const databases = new Set(TENANTS.map((tenant) => superuserUrlOf(t, tenant)));
  for (const url of databases)
    await withClient(url, (c) => c.query('TRUNCATE app.tasks, app.projects, app.members'));
  for (const tenant of TENANTS) {
    await withClient(superuserUrlOf(t, tenant), async (c) => {
      const m = marker(tenant);
      const { rows } = await c.query<{ p: string; m: string; t: string }>(
        `WITH p AS (INSERT INTO app.projects (tenant_id, name) VALUES ($1, $2) RETURNING id),
              m AS (INSERT INTO app.members (tenant_id, name, email) VALUES ($1, $3, $4) RETURNING id),
              t AS (INSERT INTO app.tasks (tenant_id, project_id, title, assignee_id)
                    SELECT $1, p.id, $5, m.id FROM p, m RETURNING id)
         SELECT p.id AS p, m.id AS m, t.id AS t FROM p, m, t`,
        [tenant, `seed project ${m}`, `seed member ${m}`, `seed${m}@example.test`, `seed task ${m}`],
      );
      const row = rows[0]!;
      const state = model.tenants.get(tenant)!;
      const [p, mem, task] = [
        encodeGlobalId('Project', tenant, row.p),
        encodeGlobalId('Member', tenant, row.m),
        encodeGlobalId('Task', tenant, row.t),
      ];
      state.projects.set(p, `seed project ${m}`);
      state.members.set(mem, `seed${m}@example.test`);
      state.tasks.set(task, { title: `seed task ${m}`, projectId: p, assigneeId: mem, status: 'TODO' });
      for (const id of [p, mem, task]) remember(model, tenant, id);
    });
  }
}
