import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { type RegistryOptions, TenantRegistry } from '../../src/tenancy/registry.js';
import type { TenantSet } from '../../src/tenancy/tenant-set.js';
import { type ParseResult, readTenantsFile } from '../../src/tenancy/tenants-file.js';

const tenantsJson = (tenants: object[]) => JSON.stringify({ baseDomain: 'localhost', tenants });
const initial = tenantsJson([
  { id: 1, subdomain: 'admin', name: 'System' },
  { id: 2, subdomain: 'tenant1', name: 'Tenant One' },
  { id: 3, subdomain: 'tenant2', name: 'Tenant Two' },
]);
const edited = tenantsJson([
  { id: 1, subdomain: 'admin', name: 'System' },
  { id: 2, subdomain: 'tenant1', name: 'Tenant One, renamed' },
  { id: 4, subdomain: 'tenant4', name: 'Tenant Four' },
]);

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tenantql-registry-'));
  file = join(dir, 'tenants.json');
  await writeFile(file, initial);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Line = { level: number; msg: string; [key: string]: unknown };
function capturingLogger() {
  const lines: Line[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

async function open(options: Partial<RegistryOptions> = {}) {
  const opened = await TenantRegistry.open({ file, logger: silentLogger, ...options });
  if (!opened.ok) throw new Error(opened.problems.join('\n'));
  return opened.registry;
}

describe('TenantRegistry.open', () => {
  it('loads a valid file', async () => {
    const registry = await open();
    expect(registry.current.size).toBe(3);
    expect(registry.status).toMatchObject({ ok: true, tenantCount: 3, problems: [] });
  });

  it('returns every problem of an invalid file', async () => {
    await writeFile(file, tenantsJson([{ id: '2', subdomain: 'Bad', name: 'x' }]));
    const opened = await TenantRegistry.open({ file, logger: silentLogger });
    expect(opened).toEqual({
      ok: false,
      problems: [expect.stringMatching(/^tenants\[0\]\.id: /), expect.anything()],
    });
  });

  it('names a missing file', async () => {
    const opened = await TenantRegistry.open({ file: join(dir, 'nope.json'), logger: silentLogger });
    expect(opened).toEqual({ ok: false, problems: [expect.stringContaining(join(dir, 'nope.json'))] });
  });
});

describe('TenantRegistry.reload', () => {
  it('swaps in a valid file, logs one diff line and calls onSwap', async () => {
    const { logger, lines } = capturingLogger();
    const swaps: [TenantSet, TenantSet | undefined][] = [];
    const registry = await open({ logger, onSwap: (next, previous) => void swaps.push([next, previous]) });
    const before = registry.current;

    await writeFile(file, edited);
    const status = await registry.reload();

    expect(status).toMatchObject({ ok: true, tenantCount: 3, problems: [] });
    expect(registry.status).toBe(status);
    expect(registry.current).not.toBe(before);
    expect(registry.current.byId(2)?.name).toBe('Tenant One, renamed');
    expect(lines).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'tenants reloaded',
        added: [4],
        removed: [3],
        changed: [2],
        tenantCount: 3,
      }),
    ]);
    expect(swaps).toEqual([[registry.current, before]]);
  });

  it.each([
    ['invalid JSON', '{', '(root)'],
    ['an empty (truncated) file', '', '(root)'],
    ['a half-written file', initial.slice(0, initial.length / 2), '(root)'],
    [
      'a duplicate subdomain',
      tenantsJson([
        { id: 2, subdomain: 'tenant1', name: 'A' },
        { id: 3, subdomain: 'tenant1', name: 'B' },
      ]),
      'tenants[1].subdomain',
    ],
    ['an id given as a string', tenantsJson([{ id: '2', subdomain: 'tenant1', name: 'A' }]), 'tenants[0].id'],
  ])('keeps the current set on %s', async (_label, text, path) => {
    const { logger, lines } = capturingLogger();
    let swaps = 0;
    const registry = await open({ logger, onSwap: () => void swaps++ });
    const before = registry.current;

    await writeFile(file, text);
    const status = await registry.reload();

    expect(status.ok).toBe(false);
    expect(status.tenantCount).toBe(3);
    expect(status.problems).toEqual([
      expect.stringMatching(new RegExp(`^${path.replace(/[[\]().]/g, '\\$&')}: `)),
    ]);
    expect(registry.status).toBe(status);
    expect(registry.current).toBe(before);
    expect(swaps).toBe(0);
    expect(lines).toEqual([
      expect.objectContaining({ level: 40, msg: 'tenants reload rejected', problems: status.problems }),
    ]);
  });

  it('keeps the current set when the file disappears, and recovers on the next good file', async () => {
    const registry = await open();
    const before = registry.current;
    await rm(file);
    expect(await registry.reload()).toMatchObject({ ok: false, problems: [expect.stringContaining(file)] });
    expect(registry.current).toBe(before);

    await writeFile(file, edited);
    expect(await registry.reload()).toMatchObject({ ok: true, problems: [] });
    expect(registry.current.byId(4)).toBeDefined();
  });

  it('keeps the current set when the reader throws', async () => {
    let calls = 0;
    const read = async (path: string): Promise<ParseResult> => {
      if (calls++ > 0) throw new Error('disk on fire');
      return readTenantsFile(path);
    };
    const registry = await open({ read });
    const before = registry.current;
    expect(await registry.reload()).toMatchObject({ ok: false, problems: [`${file}: disk on fire`] });
    expect(registry.current).toBe(before);
  });

  it('leaves a snapshot captured before a reload untouched', async () => {
    const registry = await open();
    const snapshot = registry.current;
    await writeFile(file, edited);
    await registry.reload();

    expect(snapshot.byId(2)?.name).toBe('Tenant One');
    expect(snapshot.byHost('tenant2.localhost')?.id).toBe(3);
    expect(snapshot.byId(4)).toBeUndefined();
    expect(registry.current.byHost('tenant2.localhost')).toBeUndefined();
  });

  it('reads the file at most twice for 10 concurrent calls, the second read seeing the latest file', async () => {
    let reads = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let firstReadDone!: () => void;
    const firstRead = new Promise<void>((resolve) => {
      firstReadDone = resolve;
    });
    const read = async (path: string) => {
      const n = ++reads;
      const result = await readTenantsFile(path);
      if (n === 2) {
        firstReadDone(); // the first reload has read the old file; hold it open while the others arrive
        await gate;
      }
      return result;
    };
    let swaps = 0;
    const registry = await open({ read, onSwap: () => void swaps++ });

    const first = registry.reload();
    await firstRead;
    await writeFile(file, edited); // the running reload cannot see this edit
    const others = Array.from({ length: 9 }, () => registry.reload());
    expect(new Set(others).size).toBe(1); // every late caller shares one queued reload
    release();
    const statuses = await Promise.all([first, ...others]);

    expect(reads - 1).toBe(2); // open() read once
    expect(swaps).toBe(2);
    expect(statuses.every((s) => s.ok)).toBe(true);
    expect(registry.current.byId(4)?.name).toBe('Tenant Four');

    // Once idle, the next call starts a fresh reload.
    await registry.reload();
    expect(reads - 1).toBe(3);
  });

  it('logs an onSwap error without undoing the swap', async () => {
    const { logger, lines } = capturingLogger();
    const registry = await open({
      logger,
      onSwap: async () => {
        throw new Error('tenants table is locked');
      },
    });
    await writeFile(file, edited);
    const status = await registry.reload();

    expect(status.ok).toBe(true);
    expect(registry.current.byId(4)).toBeDefined();
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [30, 'tenants reloaded'],
      [50, 'tenants onSwap failed'],
    ]);
    expect(lines[1]?.err).toMatchObject({ message: 'tenants table is locked' });
  });
});
