import { type ChildProcess, execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { freePort } from '../../src/db/embedded.js';
import { ephemeralArgs, spawnValkey } from '../../src/dev/valkey-process.js';

const run = promisify(execFile);

/**
 * The run's shared Valkey, in a database of the test file's own. Tenant ids repeat across
 * test files (each has its own PostgreSQL database), so two files on one Valkey database
 * would read each other's `{t2}:` entries. Taken so far: 1 keyspace, 2 cache, 3 rate limits, 12 input guard.
 * The global teardown checks the keys of every database.
 */
export function sharedValkeyUrl(database: number): string {
  return `${inject('valkeyUrl')}/${database}`;
}
const SERVER = process.env.TEST_VALKEY_SERVER ?? 'redis-server';

/**
 * A redis-server (or valkey-server) process of the test's own, on a free port, memory only:
 * tests that stop or reconfigure a server use one of these, never the shared one.
 */
export class OwnServer {
  #child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly extraArgs: string[],
  ) {}

  static async start(extraArgs: string[] = []): Promise<OwnServer> {
    // A free port is free only until another test file's server binds it: try again on a new one.
    for (let attempt = 1; ; attempt++) {
      const server = new OwnServer(await freePort(), extraArgs);
      try {
        await server.restart();
        return server;
      } catch (error) {
        if (attempt >= 5 || !String(error).includes('Address already in use')) throw error;
      }
    }
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the process (again, on the same port); resolves once it accepts connections. */
  async restart(): Promise<void> {
    this.#child = await spawnValkey(SERVER, [...ephemeralArgs(this.port), ...this.extraArgs]);
  }

  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((done) => {
      child.once('exit', () => done());
      child.kill('SIGKILL');
    });
  }
}

/** Three masters, no replicas, on free ports (and free cluster-bus ports), in a temp dir. */
export class OwnCluster {
  private constructor(
    readonly nodes: readonly string[],
    private readonly children: ChildProcess[],
    private readonly dir: string,
  ) {}

  static async start(): Promise<OwnCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'tenantql-cluster-'));
    const children: ChildProcess[] = [];
    const nodes: string[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const { child, port } = await OwnCluster.#startNode(dir);
        children.push(child);
        nodes.push(`127.0.0.1:${port}`);
      }
      await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes']);
      const cluster = new OwnCluster(nodes, children, dir);
      await cluster.#waitUntilOk();
      return cluster;
    } catch (error) {
      for (const child of children) child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /**
   * One node on two free ports. A free port is only free until someone else binds it: test
   * files start servers in parallel, so a node that loses the race is started again on new ports.
   */
  static async #startNode(dir: string): Promise<{ child: ChildProcess; port: number }> {
    for (let attempt = 1; ; attempt++) {
      const [port, busPort] = [await freePort(), await freePort()];
      try {
        const child = await spawnValkey(SERVER, [
          ...['--port', String(port), '--cluster-port', String(busPort), '--bind', '127.0.0.1'],
          ...['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`)],
          ...['--save', '', '--appendonly', 'no', '--dir', dir],
        ]);
        return { child, port };
      } catch (error) {
        if (attempt >= 5 || !String(error).includes('Address already in use')) throw error;
      }
    }
  }

  /** A plain connection to node `i` (for CLUSTER KEYSLOT, SCAN, PUBSUB). */
  node(i: number): Redis {
    const [host, port] = this.nodes[i]!.split(':');
    return new Redis({ host, port: Number(port), lazyConnect: false });
  }

  async #waitUntilOk(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (let i = 0; i < this.nodes.length; i++) {
      const node = this.node(i);
      try {
        while (!(await node.cluster('INFO')).includes('cluster_state:ok')) {
          if (Date.now() > deadline) throw new Error('cluster did not reach cluster_state:ok');
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        node.disconnect();
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGKILL');
          }),
      ),
    );
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Every key of a server (SCAN, never KEYS), with its type and a printable value. */
export async function dumpKeys(redis: Redis): Promise<{ key: string; type: string; value: string }[]> {
  const found: { key: string; type: string; value: string }[] = [];
  let cursor = '0';
  for (let round = 0; round < 10_000; round++) {
    const [next, batch] = await redis.scan(cursor, 'COUNT', 500);
    for (const key of batch) {
      const type = await redis.type(key);
      const value =
        type === 'string'
          ? ((await redis.get(key)) ?? '')
          : type === 'hash'
            ? JSON.stringify(await redis.hgetall(key))
            : `<${type}>`;
      found.push({ key, type, value });
    }
    cursor = next;
    if (cursor === '0') break;
  }
  return found;
}
