import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time (user + system, ms) of a process and all its descendants, from /proc. Throughput
 * on two shared cores moves with whatever else the machine runs; CPU time per request barely
 * does, so it is the figure to compare levers by. NaN where /proc is missing (not Linux).
 */
const TICK_MS = 10; // USER_HZ is 100 on every Linux architecture Node supports

interface Stat {
  ppid: number;
  cpuMs: number;
}

function readStat(pid: string): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; the fields after its closing paren are fixed.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // utime + stime, plus cutime + cstime: the children it has reaped (PostgreSQL backends that
    // ended) keep counting, so the total never drops when a connection closes.
    const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    return { ppid: Number(fields[1]), cpuMs: ticks * TICK_MS };
  } catch {
    return undefined;
  }
}

export function treeCpuMs(rootPid: number | undefined): number {
  if (rootPid === undefined) return Number.NaN;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return Number.NaN;
  }
  const stats = new Map<number, Stat>();
  for (const pid of pids) {
    const stat = readStat(pid);
    if (stat) stats.set(Number(pid), stat);
  }
  if (!stats.has(rootPid)) return Number.NaN;
  const children = new Map<number, number[]>();
  for (const [pid, stat] of stats) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), pid]);
  let total = 0;
  const queue = [rootPid];
  while (queue.length > 0) {
    const pid = queue.pop()!;
    total += stats.get(pid)?.cpuMs ?? 0;
    queue.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** The postmaster of a local PostgreSQL: the parent of a backend, if that backend runs on this machine. */
export function postmasterOf(backendPid: number): number | undefined {
  try {
    // A server elsewhere (another container) has pids of its own: make sure this one is postgres.
    if (!readFileSync(`/proc/${backendPid}/cmdline`, 'utf8').includes('postgres')) return undefined;
  } catch {
    return undefined;
  }
  return readStat(String(backendPid))?.ppid;
}
