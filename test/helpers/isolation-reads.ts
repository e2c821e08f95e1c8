import { expect } from 'vitest';
import { parseGlobalId } from '../../src/graphql/ids.js';
import { type Pick, resolvePick, Step, TASK, type Who } from './isolation-commands.js';
import { expectOwn, HOSTS, type Model, type Real, send, type TenantModel } from './isolation-model.js';

/** The reading commands of the model-based isolation test; see isolation-commands.ts. */
const byRowId = (a: string, b: string) => Number(parseGlobalId(a)!.id) - Number(parseGlobalId(b)!.id);
const tasksWhere = (
  state: TenantModel,
  test: (t: { projectId: string; assigneeId: string | null }) => boolean,
) =>
  [...state.tasks]
    .filter(([, t]) => test(t))
    .map(([id]) => id)
    .sort(byRowId);
const edgeIds = (connection: { edges: { node: { id: string } }[] }) => connection.edges.map((e) => e.node.id);

const NODE = `__typename id ... on Project { name } ... on Task { title status project { __typename id } }
  ... on Member { email tasks(first: 100) { edges { node { __typename id } } } }`;

export class ReadById extends Step {
  constructor(
    who: Who,
    readonly typename: 'Project' | 'Task' | 'Member',
    readonly viaNode: boolean,
    readonly target: Pick,
  ) {
    super(who);
  }
  async run(model: Model, real: Real) {
    const state = this.state(model);
    const id = resolvePick(model, this.who, this.target, this.typename);
    const field = this.viaNode || this.typename === 'Member' ? 'node' : this.typename.toLowerCase();
    const selection = {
      node: NODE,
      project: '__typename id name tasks(first: 100) { totalCount edges { node { __typename id title } } }',
      task: TASK,
    }[field];
    const query = `query($id: ID!) { ${field}(id: $id) { ${selection} } }`;
    const res = await this.send(model, real, query, { id });
    const row = state.projects.get(id) ?? state.tasks.get(id) ?? state.members.get(id);
    if (row === undefined) {
      expect(res.body, String(this)).toEqual({ data: { [field]: null } });
      return this.expectSameAsMissing(model, real, res, query, { id });
    }
    const got = res.body.data![field];
    expect(res.body.errors, String(this)).toBeUndefined();
    expect(got).toMatchObject({ __typename: this.typename, id });
    if (this.typename === 'Project') {
      expect(got.name).toBe(row);
      if (got.tasks) {
        const expected = tasksWhere(state, (t) => t.projectId === id);
        expect(edgeIds(got.tasks), String(this)).toEqual(expected);
        expect(got.tasks.totalCount).toBe(expected.length);
      }
    } else if (this.typename === 'Task') {
      const task = state.tasks.get(id)!;
      expect(got).toMatchObject({ title: task.title, status: task.status, project: { id: task.projectId } });
      if ('assignee' in got) expect(got.assignee?.id ?? null).toBe(task.assigneeId);
    } else {
      expect(got.email).toBe(row);
      expect(edgeIds(got.tasks), String(this)).toEqual(tasksWhere(state, (t) => t.assigneeId === id));
    }
  }
  describe() {
    return `, ${this.viaNode ? 'node' : 'typed'} ${this.typename}=${this.target.own ? 'own' : 'any'}#${this.target.back}`;
  }
}

type ListKind = 'projects' | 'members';
const expectedList = (state: TenantModel, kind: ListKind) =>
  [...(kind === 'projects' ? state.projects : state.members)].sort(([a], [b]) => byRowId(a, b));

/** Walks a whole list `size` rows at a time (size 100: one page); it must equal the model. */
export class List extends Step {
  constructor(
    who: Who,
    readonly kind: ListKind,
    readonly size: number,
  ) {
    super(who);
  }
  async run(model: Model, real: Real) {
    const expected = expectedList(this.state(model), this.kind);
    const leaf = this.kind === 'projects' ? 'name' : 'email';
    const query = `query($n: Int, $after: String) { ${this.kind}(first: $n, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } edges { cursor node { __typename id ${leaf} } } } }`;
    const seen: [string, string][] = [];
    let after: string | null = null;
    for (let page = 0; page <= Math.ceil(expected.length / this.size) + 1; page++) {
      const res = await this.send(model, real, query, { n: this.size, after });
      expect(res.body.errors, String(this)).toBeUndefined();
      const connection = res.body.data![this.kind];
      expect(connection.totalCount, String(this)).toBe(expected.length);
      for (const edge of connection.edges) seen.push([edge.node.id, edge.node[leaf]]);
      if (!connection.pageInfo.hasNextPage) break;
      after = connection.pageInfo.endCursor;
    }
    expect(seen, String(this)).toEqual(expected);
  }
  describe() {
    return `, ${this.kind} by ${this.size}`;
  }
}

/** Several tenants' lists at once, so their transactions interleave on the pool. */
export class Burst extends Step {
  constructor(readonly whos: Who[]) {
    super(whos[0]!);
  }
  async run(model: Model, real: Real) {
    const query = '{ projects(first: 100) { edges { node { __typename id name } } } }';
    const results = await Promise.all(
      this.whos.map((who) =>
        send(real, who.tenant, who.host, who.principal, query).then((res) => ({ who, res })),
      ),
    );
    for (const { who, res } of results) {
      expectOwn(model, who.tenant, res, String(this));
      const expected = expectedList(model.tenants.get(who.tenant)!, 'projects');
      const got = res.body.data?.projects.edges.map((e: { node: { id: string; name: string } }) => [
        e.node.id,
        e.node.name,
      ]);
      expect(got, `${this}: t${who.tenant}: ${JSON.stringify(res.body)}`).toEqual(expected);
    }
  }
  describe() {
    return `, ${this.whos.map((w) => `t${w.tenant}/p${w.principal}`).join(' ')}`;
  }
}

/** A credential of another tenant (or a service not granted this one) is refused, with no data. */
export class WrongCredential extends Step {
  constructor(
    who: Who,
    readonly index: number,
  ) {
    super(who);
  }
  async run(model: Model, real: Real) {
    const wrong = real.wrongCredentials.get(this.who.tenant)!;
    const credential = wrong[this.index % wrong.length]!;
    const hosts = HOSTS[this.who.tenant];
    real.stats.requests++;
    const res = await real.t.gql(
      hosts[this.who.host % hosts.length]!,
      '{ projects { edges { node { __typename id name } } } }',
      {
        headers: credential.headers,
      },
    );
    expectOwn(model, this.who.tenant, res, String(this));
    expect(
      { status: res.status, code: res.body.errors?.[0]?.extensions?.code, data: res.body.data ?? null },
      `${this}: ${credential.label}`,
    ).toEqual({
      status: credential.status,
      code: credential.code,
      data: null,
    });
  }
  describe() {
    return `, credential#${this.index}`;
  }
}
