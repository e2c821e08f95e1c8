import { type ChildProcess, spawn } from 'node:child_process';
import { findExecutable } from './find-executable.js';

/**
 * Local valkey-server / redis-server processes for the test set-up and the benchmark (never
 * the server itself, which only connects to a URL).
 */

/** The first `valkey-server` or `redis-server` on PATH. */
export function findValkeyServer(path = process.env.PATH ?? ''): Promise<string | undefined> {
  return findExecutable(['valkey-server', 'redis-server'], path);
}

/** Memory only, loopback only. */
export function ephemeralArgs(port: number): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
}

/** Starts `command args…` and resolves once it logs that it accepts connections (10 s at most). */
export async function spawnValkey(command: string, args: string[]): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((ready, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`${command} did not start in 10 s: ${output.trim()}`)),
      10_000,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        ready();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (error) => {
      clearTimeout(timer);
      fail(error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`${command} exited with code ${code}: ${output.trim()}`));
    });
  });
  // Keep draining its output so a chatty server never blocks on a full pipe.
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

/** Stops a child process and resolves once it has exited. */
export function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    child.once('exit', () => done());
    child.kill(signal);
  });
}
