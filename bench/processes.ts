import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly port: number;
  /** Resolves on every stdout line (the server's pino JSON lines). */
  onLine(listener: (line: string) => void): () => void;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  name: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  port: number;
  /** Polled until it answers 200. */
  readyPath: string;
  /** Every byte the child writes goes here, for a post-mortem. */
  logFile: string;
  /** @default 60 s */
  readyTimeoutMs?: number;
  /** The child's working directory (BENCH_BASELINE's checkout). @default the bench's */
  cwd?: string;
}

/** A node child process (same binary as the bench), ready once `readyPath` answers 200. */
export async function spawnNode(options: SpawnOptions): Promise<Child> {
  const child = spawn(process.execPath, options.args, {
    env: options.env,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(options.logFile);
  const listeners = new Set<(line: string) => void>();
  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    log.write(chunk);
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) for (const listener of listeners) listener(line);
  });
  child.stderr!.on('data', (chunk: Buffer) => log.write(chunk));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));

  const handle: Child = {
    name: options.name,
    process: child,
    port: options.port,
    onLine(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killed = sleep(15_000).then(() => child.kill('SIGKILL'));
        await Promise.race([exited, killed]);
        await exited;
      }
      log.end();
    },
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  while (!(await answers(options.port, options.readyPath))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await handle.stop();
      throw new Error(`${options.name} did not start (exit ${child.exitCode}); see ${options.logFile}`);
    }
    await sleep(100);
  }
  return handle;
}

function answers(port: number, path: string): Promise<boolean> {
  return new Promise((done) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 2_000 }, (res) => {
      res.resume();
      done(res.statusCode === 200);
    });
    req.on('error', () => done(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export interface PostResult {
  status: number;
  body: string;
}

/** One POST to 127.0.0.1 with a real Host header (fetch forbids setting Host). */
export function post(port: number, host: string, authorization: string, body: string): Promise<PostResult> {
  return new Promise((done, fail) => {
    const headers: Record<string, string> = { host, 'content-type': 'application/json' };
    if (authorization) headers.authorization = authorization;
    const req = request(
      { host: '127.0.0.1', port, path: '/graphql', method: 'POST', headers, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', fail);
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.end(body);
  });
}
