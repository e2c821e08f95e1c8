import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { basename } from 'node:path';

/**
 * Starts `command args…` and resolves once its output contains `readyLine` (10 s at most). It
 * fails with the process's last words if it exits first or is not ready in time (then it is
 * killed, so a slow start leaves nothing behind). For the test set-up and the benchmark.
 */
export function spawnUntilReady(
  command: string,
  args: string[],
  readyLine: string,
  options: SpawnOptions = {},
): Promise<ChildProcess> {
  const name = basename(command);
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((ready, fail) => {
    const timer = setTimeout(() => {
      child.kill();
      fail(new Error(`${name} did not start in 10 s: ${output.trim()}`));
    }, 10_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (!output.includes(readyLine)) return;
      clearTimeout(timer);
      // Keep draining its output so a chatty process never blocks on a full pipe.
      child.stdout?.off('data', onData).resume();
      child.stderr?.off('data', onData).resume();
      ready(child);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (error) => {
      clearTimeout(timer);
      fail(error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`${name} exited with code ${code}: ${output.trim()}`));
    });
  });
}

/** Stops a child process and resolves once it has exited. */
export function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    child.once('exit', () => done());
    child.kill(signal);
  });
}
