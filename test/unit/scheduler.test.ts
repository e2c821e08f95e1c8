import { describe, expect, it } from 'vitest';
import { createPoolScheduler, gateAlone, oneAtATimePerTenant } from '../../src/db/scheduler.js';
import { AppError } from '../../src/errors.js';

const A = 2;
const B = 3;
const C = 4;
const LONG = 60_000;

/** Starts `count` acquisitions of `tenant` and records the order in which they are granted. */
function request(
  scheduler: ReturnType<typeof createPoolScheduler>,
  tenant: number,
  log: string[],
  label: string,
) {
  return scheduler.acquire(tenant).then((release) => {
    log.push(label);
    return release;
  });
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('the pool scheduler', () => {
  it('is work-conserving: one tenant alone gets the whole pool, and a burst queues instead of failing', async () => {
    const scheduler = createPoolScheduler({ size: 3, waitTimeoutMs: LONG });
    const log: string[] = [];
    const held = await Promise.all([1, 2, 3].map((i) => request(scheduler, A, log, `a${i}`)));
    expect(log).toEqual(['a1', 'a2', 'a3']);
    const queued = Array.from({ length: 20 }, (_, i) => request(scheduler, A, log, `q${i}`));
    await tick();
    expect(scheduler.waiting()).toBe(20);
    // Each release hands its slot on: all 20 are served, in arrival order, none refused.
    for (const release of held) release();
    for (const pending of queued) (await pending)();
    expect(log.slice(3)).toEqual(Array.from({ length: 20 }, (_, i) => `q${i}`));
    expect(scheduler.waiting()).toBe(0);
  });

  it('under contention gives a freed slot to the waiting tenant that holds the fewest', async () => {
    const scheduler = createPoolScheduler({ size: 4, waitTimeoutMs: LONG });
    const log: string[] = [];
    const held = await Promise.all([1, 2, 3, 4].map((i) => request(scheduler, A, log, `a${i}`)));
    const waitingA = [1, 2, 3].map((i) => request(scheduler, A, log, `A${i}`));
    const waitingB = [1, 2].map((i) => request(scheduler, B, log, `B${i}`));
    const waitingC = [1].map((i) => request(scheduler, C, log, `C${i}`));
    await tick();
    // A queued first, but B and C hold nothing: they are served first. Then A and B hold one
    // each, and A was served longest ago; then B, whose last turn is older than A's.
    held[0]!();
    held[1]!();
    held[2]!();
    await tick();
    expect(log.slice(4)).toEqual(['B1', 'C1', 'A1']);
    held[3]!();
    await tick();
    expect(log.slice(4)).toEqual(['B1', 'C1', 'A1', 'B2']);
    for (const pending of [...waitingA, ...waitingB, ...waitingC]) void pending.then((release) => release());
  });

  it('gives a newcomer below its fair share a reserve slot at once while the pool is taken', async () => {
    const scheduler = createPoolScheduler({ size: 4, reserve: 1, waitTimeoutMs: LONG });
    const log: string[] = [];
    const flood = await Promise.all([1, 2, 3, 4].map((i) => request(scheduler, A, log, `a${i}`)));
    // The flooding tenant alone holds its fair share (the whole pool): the reserve is not for it.
    const moreA = request(scheduler, A, log, 'a5');
    await tick();
    expect(log).not.toContain('a5');
    const releaseB = await request(scheduler, B, log, 'b1');
    expect(log).toContain('b1');
    // The reserve is one slot: a second request of B waits for a free one.
    const secondB = request(scheduler, B, log, 'b2');
    await tick();
    expect(log).not.toContain('b2');
    releaseB();
    await tick();
    expect(log).toContain('b2');
    for (const release of flood) release();
    (await moreA)();
    (await secondB)();
    expect(scheduler.waiting()).toBe(0);
  });

  it('sheds a request that waited its whole deadline with 503 OVERLOADED and Retry-After', async () => {
    const shed: number[] = [];
    const scheduler = createPoolScheduler({ size: 1, waitTimeoutMs: 50, onShed: (t) => shed.push(t) });
    const release = await scheduler.acquire(A);
    const started = performance.now();
    const error = await scheduler.acquire(B).catch((e: unknown) => e);
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'OVERLOADED', httpStatus: 503 });
    expect((error as AppError).extensions.http).toMatchObject({
      status: 503,
      headers: { 'Retry-After': '1' },
    });
    expect(shed).toEqual([B]);
    expect(scheduler.waiting()).toBe(0);
    // The slot a shed request never got is not lost: the next one is served at once.
    release();
    (await scheduler.acquire(B))();
  });

  it('releases a slot once however often release is called', async () => {
    const scheduler = createPoolScheduler({ size: 1, waitTimeoutMs: LONG });
    const log: string[] = [];
    const release = await scheduler.acquire(A);
    const second = request(scheduler, A, log, 'second');
    const third = request(scheduler, A, log, 'third');
    release();
    release();
    await tick();
    expect(log).toEqual(['second']);
    (await second)();
    (await third)();
  });
});

describe('one event at a time per tenant', () => {
  it('serialises a tenant but not the others, and sheds a wait past the deadline', async () => {
    const pool = createPoolScheduler({ size: 10, waitTimeoutMs: LONG });
    const lane = oneAtATimePerTenant(pool.acquire, 50);
    const first = await lane(A);
    const otherTenant = await lane(B);
    const error = await lane(A).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'OVERLOADED' });
    const next = lane(A);
    first();
    (await next)();
    otherTenant();
  });
});

describe('the gate for one-statement reads (FAST_PATH_CONCURRENCY)', () => {
  it('holds reads to its size while transactions take the rest of the pool', async () => {
    const pool = createPoolScheduler({ size: 6, waitTimeoutMs: LONG });
    const gate = createPoolScheduler({ size: 2, waitTimeoutMs: LONG });
    const acquire = gateAlone(gate.acquire, pool.acquire);
    const log: string[] = [];
    const reads = [1, 2, 3, 4].map((i) =>
      acquire(A, 'alone').then((release) => {
        log.push(`read${i}`);
        return release;
      }),
    );
    await tick();
    // Two reads hold the gate and two pool slots; the other two wait at the gate, not the pool.
    expect(log).toEqual(['read1', 'read2']);
    expect(gate.waiting()).toBe(2);
    expect(pool.waiting()).toBe(0);
    // Transactions do not queue behind the gate: the four slots the reads leave are theirs.
    const transactions = await Promise.all([1, 2, 3, 4].map(() => acquire(B)));
    expect(pool.waiting()).toBe(0);
    // A read that ends lets the next one through; each slot is given back once.
    const first = await reads[0]!;
    first();
    first();
    await tick();
    expect(log).toEqual(['read1', 'read2', 'read3']);
    expect(gate.waiting()).toBe(1);
    for (const release of transactions) release();
    for (const pending of reads.slice(1)) (await pending)();
    expect(gate.waiting()).toBe(0);
    // Both are free again: a full gate's worth of reads and the pool's of transactions at once.
    const again = await Promise.all([
      acquire(C, 'alone'),
      acquire(C, 'alone'),
      ...[1, 2, 3, 4].map(() => acquire(A)),
    ]);
    expect(gate.waiting() + pool.waiting()).toBe(0);
    for (const release of again) release();
  });

  it('gives the gate back when the pool sheds the read', async () => {
    const pool = createPoolScheduler({ size: 1, waitTimeoutMs: 30 });
    const gate = createPoolScheduler({ size: 1, waitTimeoutMs: LONG });
    const acquire = gateAlone(gate.acquire, pool.acquire);
    const transaction = await acquire(A);
    const error = await acquire(B, 'alone').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'OVERLOADED' });
    transaction();
    // The shed read left the gate: the next read passes at once.
    (await acquire(B, 'alone'))();
  });
});
