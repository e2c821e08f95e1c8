import { type ChildProcess, spawn } from 'node:child_process';
import { type Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/tenantql.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `tenantql <args>` as a child process with exactly `env` (plus PATH), to its exit. A run
 * still going at `timeoutMs` gets SIGTERM (the embedded PostgreSQL's hooks stop it on that).
 */
export function runCli(
  args: string[],
  options: {
    cwd?: string;
    env?: Record<string, string>;
    timeoutMs?: number;
    uid?: number;
    gid?: number;
    /** The entry run with plain node. @default bin/tenantql.js; a product's own entry (test/package). */
    script?: string;
  } = {},
): Promise<CliResult> {
  const child = spawn(process.execPath, [options.script ?? BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    uid: options.uid,
    gid: options.gid,
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGTERM'), options.timeoutMs ?? 20_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** When the process exited (performance.now()). */
  at: number;
}

/** `tenantql start` as a real child process, as an operator runs it. */
export class ServerProcess {
  output = '';
  readonly exited: Promise<Exit>;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    exited: Promise<Exit>,
  ) {
    this.exited = exited;
  }

  /**
   * Starts the server with exactly `env` (plus PATH) and resolves once it logged `listening`.
   * `cwd` is where a development start puts `.data/` and `tenants.json`.
   */
  static async start(
    env: Record<string, string>,
    options: { cwd?: string; timeoutMs?: number; script?: string } = {},
  ): Promise<ServerProcess> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const child = spawn(process.execPath, [options.script ?? BIN, 'start'], {
      cwd: options.cwd ?? ROOT,
      env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const exited = new Promise<Exit>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
    );
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`tenantql start did not listen within ${timeoutMs} ms:\n${output}`));
      }, timeoutMs);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const url = /"msg":"listening"/.test(output) ? output.match(/"url":"http:\/\/[^:]+:(\d+)\//) : null;
        if (url) {
          clearTimeout(timer);
          resolve(Number(url[1]));
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      void exited.then(({ code }) => {
        clearTimeout(timer);
        reject(new Error(`tenantql start exited with ${code} before listening:\n${output}`));
      });
    });
    const server = new ServerProcess(child, port, exited);
    server.output = output;
    const append = (chunk: Buffer) => {
      server.output += chunk.toString();
    };
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    return server;
  }

  /** The JSON log lines so far. */
  get logLines(): Record<string, any>[] {
    return this.output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line));
  }

  /** Kills the process if a test left it running. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request over a real socket with a real Host header (fetch cannot set Host). */
export function httpRequest(
  port: number,
  options: {
    host: string;
    path?: string;
    method?: string;
    body?: string;
    headers?: Record<string, string>;
    agent?: Agent;
  },
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: options.path ?? '/graphql',
        method: options.method ?? (options.body ? 'POST' : 'GET'),
        agent: options.agent,
        headers: {
          host: `${options.host}:${port}`,
          ...(options.body ? { 'content-type': 'application/json' } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * A GraphQL subscription over SSE on a real socket (graphql-sse's distinct-connections mode):
 * `onText` gets the body as it grows; `ended` resolves with all of it when the server closes
 * the stream (at most `timeoutMs`); `close` hangs up.
 */
export function openEventStream(
  port: number,
  options: { host: string; token: string; query: string; timeoutMs?: number },
  onText: (text: string) => void = () => {},
): { ended: Promise<string>; close: () => void } {
  let close = () => {};
  const ended = new Promise<string>((resolve, reject) => {
    const req = request(
      {
        port,
        host: '127.0.0.1',
        path: '/graphql',
        method: 'POST',
        headers: {
          host: options.host,
          authorization: `Bearer ${options.token}`,
          'content-type': 'application/json',
          accept: 'text/event-stream',
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          onText(text);
        });
        res.on('end', () => resolve(text));
      },
    );
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(new Error('the stream did not end')));
    req.on('error', reject);
    req.end(JSON.stringify({ query: options.query }));
    close = () => req.destroy();
  });
  return { ended, close: () => close() };
}
