import { type ChildProcess, spawn } from 'node:child_process';
import type { CliResult } from '../helpers/server-process.js';

/** `node <script> <args>` in `dir` with exactly `env` (plus PATH), as runCli does: nothing of the test run leaks in. */
function spawnNode(dir: string, script: string, args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [script, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** `node <script> <args>` in `dir`, to its exit (SIGKILL at `timeoutMs`). Plain node: no tsx, no --import. */
export function runNode(
  dir: string,
  script: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<CliResult> {
  const child = spawnNode(dir, script, args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `node server.mjs <args>`: a tenantql command of the product in `dir`. */
export function runProduct(
  dir: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  return runNode(dir, 'server.mjs', args, env);
}

/** `node server.mjs start` as a child process, listening on a port the OS picked. */
export class ProductServer {
  output = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
    readonly port: number,
  ) {}

  /** Resolves once the server logged its `listening` line (with the port in its url). */
  static async start(dir: string, env: Record<string, string>, timeoutMs = 30_000): Promise<ProductServer> {
    const child = spawnNode(dir, 'server.mjs', ['start'], { PORT: '0', HOST: '127.0.0.1', ...env });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let output = '';
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the product did not listen within ${timeoutMs} ms:\n${output}`));
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
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`the product exited with ${child.exitCode} before listening:\n${output}`));
      });
    });
    const server = new ProductServer(child, exited, port);
    server.output = output;
    const append = (chunk: Buffer) => {
      server.output += chunk.toString();
    };
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    return server;
  }

  /** SIGTERM (the server drains and closes its pools), SIGKILL if it takes longer than 10 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const kill = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    this.child.kill('SIGTERM');
    await this.exited;
    clearTimeout(kill);
  }
}
