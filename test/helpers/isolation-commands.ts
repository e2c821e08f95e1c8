import type fc from 'fast-check';
import { expect } from 'vitest';
import { encodeGlobalId, parseGlobalId } from '../../src/graphql/ids.js';
import type { GraphQLResponse } from './app.js';
import {
  codeOf,
  emit,
  expectLikeMissing,
  expectOwn,
  MISSING_ROW,
  type Model,
  marker,
  missingLike,
  type Real,
  remember,
  send,
  type TenantId,
  type TenantModel,
} from './isolation-model.js';

/**
 * The writing commands of the model-based isolation test (reads: isolation-reads.ts). Each
 * sends one operation as a random principal on a random host of a random tenant and checks
 * the isolation invariant, agreement with the model, and that an id the tenant cannot see
 * (another tenant's, or deleted) fails exactly like an id that never existed.
 */
export interface Who {
  tenant: TenantId;
  host: number;
  principal: number;
}

/** An id to send: among this tenant's own ids or everyone's, counted back from the newest. */
export interface Pick {
  own: boolean;
  back: number;
}

export function resolvePick(model: Model, who: Who, pick: Pick, typename: string): string {
  const ids = model.pool.filter(
    (id) => parseGlobalId(id)?.typename === typename && (!pick.own || model.owner.get(id) === who.tenant),
  );
  return ids[ids.length - 1 - pick.back] ?? encodeGlobalId(typename, who.tenant, MISSING_ROW);
}

const fmtPick = (p: Pick | null | undefined) => (p ? `${p.own ? 'own' : 'any'}#${p.back}` : String(p));
const visibleIn = (state: TenantModel) => (id: string) =>
  state.projects.has(id) || state.members.has(id) || state.tasks.has(id);

export abstract class Step implements fc.AsyncCommand<Model, Real> {
  constructor(readonly who: Who) {}
  check(_model: Readonly<Model>): boolean {
    return true;
  }
  abstract run(model: Model, real: Real): Promise<void>;
  protected abstract describe(): string;
  toString(): string {
    return `${this.constructor.name}(t${this.who.tenant} host#${this.who.host} principal#${this.who.principal}${this.describe()})`;
  }

  protected state(model: Model): TenantModel {
    return model.tenants.get(this.who.tenant)!;
  }

  /** Sends as this step's principal; the isolation invariant is checked unless `fresh` rows are expected. */
  protected async send(
    model: Model,
    real: Real,
    query: string,
    variables: Record<string, unknown>,
    fresh = false,
  ) {
    const res = await send(real, this.who.tenant, this.who.host, this.who.principal, query, variables);
    if (!fresh) expectOwn(model, this.who.tenant, res, String(this));
    return res;
  }

  /** A created row: a new id, registered to this tenant, then the invariant. */
  protected created(model: Model, res: GraphQLResponse, field: string): string {
    expect(res.body.errors, String(this)).toBeUndefined();
    const id = res.body.data?.[field]?.id as string;
    expect(model.owner.has(id), `${this}: returned an existing id ${id}`).toBe(false);
    remember(model, this.who.tenant, id);
    expectOwn(model, this.who.tenant, res, String(this));
    return id;
  }

  /** NOT_FOUND, exactly as if every id the tenant cannot see had never existed. */
  protected async expectNotFound(
    model: Model,
    real: Real,
    res: GraphQLResponse,
    query: string,
    vars: Record<string, unknown>,
  ) {
    expectOwn(model, this.who.tenant, res, String(this));
    expect(codeOf(res), `${this}: ${JSON.stringify(res.body)}`).toBe('NOT_FOUND');
    await this.expectSameAsMissing(model, real, res, query, vars);
  }

  /** Byte-identical to the same call with every id the tenant cannot see replaced by a never-existing one. */
  protected async expectSameAsMissing(
    model: Model,
    real: Real,
    res: GraphQLResponse,
    query: string,
    vars: Record<string, unknown>,
  ) {
    const visible = visibleIn(this.state(model));
    const hidden = (v: unknown): v is string => typeof v === 'string' && model.owner.has(v) && !visible(v);
    const control = Object.fromEntries(
      Object.entries(vars).map(([k, v]) => [k, hidden(v) ? missingLike(v) : v]),
    );
    expectLikeMissing(res, await this.send(model, real, query, control), String(this));
  }
}

export const PROJECT = '__typename id name';
export const TASK = '__typename id title status project { __typename id } assignee { __typename id email }';

export class CreateProject extends Step {
  async run(model: Model, real: Real) {
    const name = `project ${++model.seq} ${marker(this.who.tenant)}`;
    const query = `mutation($n: String!) { createProject(input: { name: $n }) { ${PROJECT} } }`;
    const res = await this.send(model, real, query, { n: name }, true);
    this.state(model).projects.set(this.created(model, res, 'createProject'), name);
    expect(res.body.data!.createProject.name).toBe(name);
  }
  describe() {
    return '';
  }
}

export class CreateMember extends Step {
  async run(model: Model, real: Real) {
    const email = `m${++model.seq}${marker(this.who.tenant)}@example.test`;
    const query =
      'mutation($e: String!) { createMember(input: { name: "m", email: $e }) { __typename id email } }';
    const res = await this.send(model, real, query, { e: email }, true);
    this.state(model).members.set(this.created(model, res, 'createMember'), email);
  }
  describe() {
    return '';
  }
}

export class CreateTask extends Step {
  constructor(
    who: Who,
    readonly project: Pick,
    readonly assignee: Pick | null,
  ) {
    super(who);
  }
  async run(model: Model, real: Real) {
    const state = this.state(model);
    const p = resolvePick(model, this.who, this.project, 'Project');
    const a = this.assignee ? resolvePick(model, this.who, this.assignee, 'Member') : null;
    const vars = { p, a, t: `task ${++model.seq} ${marker(this.who.tenant)}` };
    const query = `mutation($p: ID!, $a: ID, $t: String!) { createTask(input: { projectId: $p, assigneeId: $a, title: $t }) { ${TASK} } }`;
    const res = await this.send(model, real, query, vars, true);
    if (!state.projects.has(p) || (a !== null && !state.members.has(a)))
      return this.expectNotFound(model, real, res, query, vars);
    const id = this.created(model, res, 'createTask');
    expect(res.body.data!.createTask).toMatchObject({ title: vars.t, status: 'TODO', project: { id: p } });
    expect(res.body.data!.createTask.assignee?.id ?? null).toBe(a);
    state.tasks.set(id, { title: vars.t, projectId: p, assigneeId: a, status: 'TODO' });
    emit(model, this.who.tenant, 'CREATED', id, p);
  }
  describe() {
    return `, project=${fmtPick(this.project)}, assignee=${fmtPick(this.assignee)}`;
  }
}

export class UpdateProject extends Step {
  constructor(
    who: Who,
    readonly project: Pick,
  ) {
    super(who);
  }
  async run(model: Model, real: Real) {
    const id = resolvePick(model, this.who, this.project, 'Project');
    const vars = { id, n: `renamed ${++model.seq} ${marker(this.who.tenant)}` };
    const query = `mutation($id: ID!, $n: String) { updateProject(input: { id: $id, name: $n }) { ${PROJECT} } }`;
    const res = await this.send(model, real, query, vars);
    if (!this.state(model).projects.has(id)) return this.expectNotFound(model, real, res, query, vars);
    expect(res.body, String(this)).toEqual({
      data: { updateProject: { __typename: 'Project', id, name: vars.n } },
    });
    this.state(model).projects.set(id, vars.n);
  }
  describe() {
    return `, project=${fmtPick(this.project)}`;
  }
}

export class UpdateTask extends Step {
  constructor(
    who: Who,
    readonly task: Pick,
    readonly status: string | null,
    readonly assignee: Pick | null | 'unassign',
  ) {
    super(who);
  }
  async run(model: Model, real: Real) {
    const state = this.state(model);
    const id = resolvePick(model, this.who, this.task, 'Task');
    const a =
      this.assignee === 'unassign'
        ? null
        : this.assignee
          ? resolvePick(model, this.who, this.assignee, 'Member')
          : undefined;
    const vars = { id, s: this.status, a, t: `retitled ${++model.seq} ${marker(this.who.tenant)}` };
    // Leaving assigneeId out keeps the assignee; null unassigns.
    const [decl, assign] = a === undefined ? ['', ''] : [', $a: ID', ', assigneeId: $a'];
    const query = `mutation($id: ID!, $t: String, $s: TaskStatus${decl}) { updateTask(input: { id: $id, title: $t, status: $s${assign} }) { ${TASK} } }`;
    const res = await this.send(model, real, query, vars);
    const task = state.tasks.get(id);
    if (!task || (a != null && !state.members.has(a)))
      return this.expectNotFound(model, real, res, query, vars);
    const next = {
      ...task,
      title: vars.t,
      status: this.status ?? task.status,
      assigneeId: a === undefined ? task.assigneeId : a,
    };
    expect(res.body.errors, String(this)).toBeUndefined();
    expect(res.body.data!.updateTask).toMatchObject({
      id,
      title: next.title,
      status: next.status,
      project: { id: next.projectId },
    });
    expect(res.body.data!.updateTask.assignee?.id ?? null).toBe(next.assigneeId);
    state.tasks.set(id, next);
    emit(model, this.who.tenant, 'UPDATED', id, next.projectId);
  }
  describe() {
    return `, task=${fmtPick(this.task)}, status=${this.status}, assignee=${typeof this.assignee === 'string' ? this.assignee : fmtPick(this.assignee)}`;
  }
}

export class Delete extends Step {
  constructor(
    who: Who,
    readonly typename: 'Project' | 'Task',
    readonly target: Pick,
  ) {
    super(who);
  }
  async run(model: Model, real: Real) {
    const state = this.state(model);
    const id = resolvePick(model, this.who, this.target, this.typename);
    const query = `mutation($id: ID!) { delete${this.typename}(id: $id) }`;
    const res = await this.send(model, real, query, { id });
    const rows = this.typename === 'Project' ? state.projects : state.tasks;
    if (!rows.has(id)) return this.expectNotFound(model, real, res, query, { id });
    expect(res.body, String(this)).toEqual({ data: { [`delete${this.typename}`]: true } });
    if (this.typename === 'Task') emit(model, this.who.tenant, 'DELETED', id, state.tasks.get(id)!.projectId);
    rows.delete(id);
    // A project takes its tasks with it.
    for (const [taskId, task] of state.tasks) {
      if (task.projectId !== id) continue;
      state.tasks.delete(taskId);
      emit(model, this.who.tenant, 'DELETED', taskId, id);
    }
  }
  describe() {
    return `, ${this.typename}=${fmtPick(this.target)}`;
  }
}
