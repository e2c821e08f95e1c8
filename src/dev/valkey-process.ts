import type { ChildProcess } from 'node:child_process';
import { spawnUntilReady } from './child-process.js';
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

/** Starts `command args…` and resolves once it logs that it accepts connections. */
export function spawnValkey(command: string, args: string[]): Promise<ChildProcess> {
  return spawnUntilReady(command, args, 'Ready to accept connections');
}
