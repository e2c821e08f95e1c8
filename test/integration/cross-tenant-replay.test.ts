import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoSchema as tenantSchema } from '../../src/example/schema.js';
import { encodeGlobalId, parseGlobalId } from '../../src/graphql/ids.js';
import { defaultTenants, type GraphQLResponse, TestApp } from '../helpers/app.js';
import { withClient } from '../helpers/db.js';
import {
  buildVariables,
  harvestIds,
  type IdPath,
  idPaths,
  operationFor,
  type RootField,
  rootFields,
} from '../helpers/schema-operations.js';
import { provisionDedicated, superuserUrlOf } from '../helpers/tiers.js';

/**
 * Every Query and Mutation field that takes an ID (directly or inside an input), generated from
 * the schema: tenant B (in a database of its own) calls it with each of tenant A's (shared) real ids. Queries answer like a missing
 * id, mutations fail with NOT_FOUND like a missing id, and neither tenant's rows change.
 * A field added later is covered without editing this file; an ID argument this file cannot
 * build an operation for fails the test instead of being skipped.
 */
const A = { id: 2, host: 'tenant1.localhost', label: 'canary-a' };
const B = { id: 3, host: 'tenant2.localhost', label: 'tenant-b' };
type Tenant = typeof A;
type Ids = Map<string, string[]>; // typename -> global ids, newest last

const targets = rootFields(tenantSchema)
  .map((root) => ({ root, paths: idPaths(root.field) }))
  .filter((f) => f.paths.length > 0);
const creates = rootFields(tenantSchema).filter(
  (r) => r.kind === 'mutation' && r.field.name.startsWith('create'),
);

let t: TestApp;
const tokens = new Map<number, string>();
let aIds: Ids;
let replayed = 0;

async function call(tenant: Tenant, root: RootField, ids: Map<string, string>): Promise<GraphQLResponse> {
  return t.gql(tenant.host, operationFor(tenantSchema, root), {
    token: tokens.get(tenant.id),
    variables: buildVariables(root.field, ids, tenant.label),
  });
}

const fieldValue = (res: GraphQLResponse, root: RootField) =>
  (res.body.data as Record<string, unknown> | null | undefined)?.[root.field.name];

/** Something came back: not null, not an empty list or connection. */
function nonEmpty(value: unknown): boolean {
  if (value == null || value === false) return false;
  if (Array.isArray(value)) return value.length > 0;
  const edges = (value as { edges?: unknown[] }).edges;
  return Array.isArray(edges) ? edges.length > 0 : true;
}
const succeeded = (res: GraphQLResponse, root: RootField) =>
  !res.body.errors && nonEmpty(fieldValue(res, root));

/** Typename guesses in a helpful order (projectId -> Project first); only the order is a guess. */
function typesFor(path: IdPath, root: RootField, ids: Ids): string[] {
  const last = path.path.at(-1)!.toLowerCase();
  const score = (tn: string) =>
    last === `${tn.toLowerCase()}id` ||
    (last === 'id' && root.field.name.toLowerCase().includes(tn.toLowerCase()))
      ? 0
      : 1;
  return [...ids.keys()].sort((x, y) => score(x) - score(y));
}

function* product(paths: IdPath[], types: (p: IdPath) => string[]): Generator<Map<string, string>> {
  if (paths.length === 0) return yield new Map();
  const [first, ...rest] = paths;
  for (const tn of types(first!))
    for (const tail of product(rest, types)) yield new Map(tail).set(first!.key, tn);
}

const pick = (ids: Ids, typeOf: Map<string, string>) =>
  new Map([...typeOf].map(([key, tn]) => [key, ids.get(tn)!.at(-1)!]));

/** One fresh row of every type the create mutations can make, discovered from the schema. */
async function seed(tenant: Tenant): Promise<Ids> {
  const made: Ids = new Map();
  const done = new Set<string>();
  for (let pass = 0; pass < 3; pass++) {
    for (const root of creates.filter((r) => !done.has(r.field.name))) {
      const required = idPaths(root.field).filter((p) => p.required);
      for (const typeOf of product(required, (p) => typesFor(p, root, made))) {
        const res = await call(tenant, root, pick(made, typeOf));
        if (res.body.errors) continue;
        for (const [tn, set] of harvestIds(res.body.data)) made.set(tn, [...(made.get(tn) ?? []), ...set]);
        done.add(root.field.name);
        break;
      }
    }
  }
  return made;
}

/**
 * Which type each id path takes, learned by positive controls on B's own fresh rows: the
 * operation succeeds with them, so a later NOT_FOUND is the foreign id's doing alone.
 */
async function learnTypes(root: RootField, paths: IdPath[]): Promise<Map<string, string>> {
  const known = await seed(B);
  let base: Map<string, string> | undefined;
  for (const typeOf of product(
    paths.filter((p) => p.required),
    (p) => typesFor(p, root, known),
  )) {
    if (succeeded(await call(B, root, pick(await seed(B), typeOf)), root)) {
      base = typeOf;
      break;
    }
  }
  if (!base) throw new Error(`cannot build a valid ${root.field.name} from B's own ids`);
  const types = new Map(base);
  for (const p of paths.filter((q) => !q.required)) {
    for (const tn of typesFor(p, root, known)) {
      if (succeeded(await call(B, root, pick(await seed(B), new Map(base).set(p.key, tn))), root)) {
        types.set(p.key, tn);
        break;
      }
    }
    if (!types.has(p.key)) throw new Error(`cannot build a valid ${root.field.name} with ${p.key} set`);
  }
  return types;
}

/** Every row of every tenant table for one tenant, as the superuser sees it. */
async function snapshot(tenantId: number): Promise<string> {
  return withClient(superuserUrlOf(t, tenantId), async (c) => {
    const { rows: tables } = await c.query<{ name: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid
       WHERE a.attname = 'tenant_id' AND c.relkind IN ('r', 'p') AND n.nspname = 'app' ORDER BY 1`,
    );
    const parts: string[] = [];
    for (const { name } of tables) {
      const { rows } = await c.query(
        `SELECT to_jsonb(x) AS r FROM ${name} x WHERE tenant_id = $1 ORDER BY 1`,
        [tenantId],
      );
      parts.push(`${name}:${JSON.stringify(rows.map((r) => r.r))}`);
    }
    return parts.join('\n');
  });
}

beforeAll(async () => {
  // Tiers mixed (SPEC §10): B has a database of its own, A's rows are in the shared one.
  const tenants = {
    ...defaultTenants,
    tenants: defaultTenants.tenants.map((tenant) =>
      tenant.id === B.id ? { ...tenant, isolation: 'database' } : tenant,
    ),
  };
  t = await TestApp.start({
    tenants,
    prepare: async (db, secretsFile) => void (await provisionDedicated(db, secretsFile, tenants)),
  });
  tokens.set(A.id, await t.token(A.id));
  tokens.set(B.id, await t.token(B.id));
  aIds = await seed(A);
});
afterAll(async () => {
  console.info(`cross-tenant replay: ${targets.length} fields with id arguments, ${replayed} replays`);
  await t.close();
});

describe('cross-tenant replay of every field that takes an id', () => {
  it('finds the fields and seeds tenant A through the schema', () => {
    const names = targets.map((f) => f.root.field.name);
    expect(names).toEqual(
      expect.arrayContaining(['node', 'project', 'task', 'createTask', 'updateTask', 'deleteProject']),
    );
    expect([...aIds.keys()]).toEqual(expect.arrayContaining(['Project', 'Task', 'Member']));
  });

  it.each(targets.map((f) => [`${f.root.kind} ${f.root.field.name}`, f] as const))(
    '%s',
    async (_name, { root, paths }) => {
      const aBefore = await snapshot(A.id);
      const types = await learnTypes(root, paths);
      const own = await seed(B);
      for (const p of paths) {
        for (const [, ids] of aIds) {
          for (const foreign of ids) {
            const sent = new Map(
              [...types].filter(([k]) => k !== p.key && paths.find((q) => q.key === k)?.required),
            );
            const otherIds = pick(own, sent);
            const bBefore = root.kind === 'mutation' ? await snapshot(B.id) : '';
            const res = await call(B, root, new Map(otherIds).set(p.key, foreign));
            const typename = parseGlobalId(foreign)!.typename;
            // Rows are numbered per tenant, so B may well hold a row with A's row number:
            // A's id must still read like an id of B's that never existed.
            const missing = await call(
              B,
              root,
              new Map(otherIds).set(p.key, encodeGlobalId(typename, B.id, '999999999999')),
            );
            replayed++;
            const where = `${root.field.name}(${p.key} = A's ${typename})`;
            const text = JSON.stringify(res.body);
            expect(text, where).not.toContain(A.label);
            expect(nonEmpty(fieldValue(res, root)), where).toBe(false);
            if (root.kind === 'mutation') {
              expect(res.body.errors?.[0]?.extensions?.code, where).toBe('NOT_FOUND');
              expect(await snapshot(B.id), `${where} wrote to B`).toBe(bBefore);
            } else {
              for (const e of res.body.errors ?? []) expect(e.extensions?.code, where).toBe('NOT_FOUND');
            }
            // Exactly like an id that never existed: same status, same body.
            expect({ status: res.status, body: res.body }, where).toEqual({
              status: missing.status,
              body: missing.body,
            });
          }
        }
      }
      expect(await snapshot(A.id), `${root.field.name} changed A's rows`).toBe(aBefore);
    },
  );
});
