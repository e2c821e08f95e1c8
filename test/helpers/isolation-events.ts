import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import { channels } from '../../src/cache/keyspace.js';
import { type Pick, resolvePick, Step, type Who } from './isolation-commands.js';
import { expectOwn, HOSTS, type Model, type Real, TENANTS } from './isolation-model.js';

/**
 * Subscriptions in the model-based isolation test: `taskChanged` streams (SSE through
 * app.fetch, events through Valkey pub/sub) opened by random principals, optionally filtered by
 * a project id (own, foreign or missing). After each run every stream must have received
 * exactly the task changes the model expects of its tenant (and project), and nothing else.
 */
export interface TaskEvent {
  kind: 'CREATED' | 'UPDATED' | 'DELETED';
  taskId: string;
  projectId: string;
}

export interface OpenSubscription {
  tenant: number;
  /** Index into the tenant's model event log where this stream starts. */
  start: number;
  projectId: string | null;
  label: string;
  received: { taskChanged: { kind: string; taskId: string; task: unknown } }[];
  close(): void;
}

const SUBSCRIPTION = `subscription($p: ID) { taskChanged(projectId: $p) {
  kind taskId task { __typename id title project { __typename id } } } }`;
export const MAX_SUBSCRIPTIONS = 3;

export class Subscribe extends Step {
  constructor(
    who: Who,
    readonly project: Pick | null,
  ) {
    super(who);
  }
  override check(model: Readonly<Model>): boolean {
    return model.subscriptions < MAX_SUBSCRIPTIONS;
  }
  async run(model: Model, real: Real) {
    model.subscriptions++;
    const projectId = this.project ? resolvePick(model, this.who, this.project, 'Project') : null;
    const principals = real.principals.get(this.who.tenant)!;
    const principal = principals[this.who.principal % principals.length]!;
    const hosts = HOSTS[this.who.tenant];
    const host = hosts[this.who.host % hosts.length]!;
    const abort = new AbortController();
    real.stats.requests++;
    const response = await real.t.app.fetch(`http://${host}/graphql`, {
      method: 'POST',
      headers: {
        ...principal.headers,
        host,
        'content-type': 'application/json',
        accept: 'text/event-stream',
      },
      body: JSON.stringify({ query: SUBSCRIPTION, variables: { p: projectId } }),
      signal: abort.signal,
    });
    expect(response.status, String(this)).toBe(200);
    const reader = response.body!.getReader();
    const sub: OpenSubscription = {
      tenant: this.who.tenant,
      start: model.events.get(this.who.tenant)!.length,
      projectId,
      label: `${this} as ${principal.label}`,
      received: [],
      // In-process, aborting the request alone leaves the server's stream running (a real
      // socket's close ends it); cancelling the body is what returns the server's iterator.
      close: () => {
        abort.abort();
        void reader.cancel().catch(() => {});
      },
    };
    real.subscriptions.push(sub);
    void pump(reader, sub);
    await ready(real.valkey, this.who.tenant);
  }
  describe() {
    return `, project=${this.project ? `${this.project.own ? 'own' : 'any'}#${this.project.back}` : 'all'}`;
  }
}

/** Parses `event: next` frames into `sub.received` until the stream ends or is aborted. */
async function pump(reader: ReadableStreamDefaultReader<Uint8Array>, sub: OpenSubscription): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = frame
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trim())
          .join('');
        if (frame.includes('event: next') && data) sub.received.push(JSON.parse(data).data);
      }
    }
  } catch {
    // aborted at the end of the run
  }
}

/** The app holds the tenant's channel on Valkey (one subscription per channel per instance), and the stream has registered. */
async function ready(valkey: Redis, tenant: number): Promise<void> {
  const channel = channels.events(tenant, 'tasks');
  const deadline = performance.now() + 2_000;
  while (performance.now() < deadline) {
    const [, count] = (await valkey.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
    if (Number(count) > 0) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 30));
}

/**
 * Every open stream got exactly its tenant's expected changes (as a multiset: a project's
 * cascade deletes have no defined order), and every event is the tenant's own. Closes them.
 */
export async function checkEvents(model: Model, real: Real): Promise<void> {
  for (const sub of real.subscriptions) {
    const expected = model.events
      .get(sub.tenant)!
      .slice(sub.start)
      .filter((e) => sub.projectId === null || e.projectId === sub.projectId)
      .map((e) => `${e.kind} ${e.taskId}`)
      .sort();
    const deadline = performance.now() + 3_000;
    while (sub.received.length < expected.length && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 50)); // anything extra arrives now
    for (const event of sub.received) {
      expectOwn(model, sub.tenant, { status: 200, headers: new Headers(), body: { data: event } }, sub.label);
      expect(model.owner.get(event.taskChanged.taskId), `${sub.label}: event of another tenant`).toBe(
        sub.tenant,
      );
    }
    const got = sub.received.map((e) => `${e.taskChanged.kind} ${e.taskChanged.taskId}`).sort();
    expect(got, sub.label).toEqual(expected);
    real.stats.events += got.length;
  }
}

/** Closes every stream; the app must then drop its Valkey subscriptions (none lingers on the server). */
export async function closeSubscriptions(real: Real): Promise<void> {
  for (const sub of real.subscriptions) sub.close();
  real.subscriptions = [];
  const deadline = performance.now() + 2_000;
  for (;;) {
    const counts = (await real.valkey.call(
      'PUBSUB',
      'NUMSUB',
      ...TENANTS.map((id) => channels.events(id, 'tasks')),
    )) as (string | number)[];
    const open = counts.filter((_, i) => i % 2 === 1).reduce((sum: number, n) => sum + Number(n), 0);
    if (open === 0) return;
    if (performance.now() > deadline)
      throw new Error(`${open} subscription(s) still open on the server after every client left`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
