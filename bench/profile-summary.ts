/**
 * Summarises a V8 .cpuprofile: where the server's CPU time went, by self time per function
 * and per owner (a package in node_modules, a src/ file, node internals, GC), and by inclusive
 * time per owner (every sample whose stack passes through it, counted once).
 */
interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export function ownerOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const parts = url.slice(modules + '/node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  return url.replace(/^file:\/\//, '');
}

export interface Row {
  name: string;
  ms: number;
  share: number;
}

export function summarise(profile: CpuProfile, top = 25) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (const [i, id] of profile.samples.entries()) {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }

  const selfByFunction = new Map<string, number>();
  const selfByOwner = new Map<string, number>();
  const inclusiveByOwner = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame;
    total += us;
    if (frame.functionName === '(idle)') idle += us;
    const owner = ownerOf(frame);
    const fn = `${frame.functionName || '(anonymous)'} ${owner}:${frame.lineNumber + 1}`;
    selfByFunction.set(fn, (selfByFunction.get(fn) ?? 0) + us);
    selfByOwner.set(owner, (selfByOwner.get(owner) ?? 0) + us);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const o = ownerOf(byId.get(at)!.callFrame);
      if (!seen.has(o)) {
        seen.add(o);
        inclusiveByOwner.set(o, (inclusiveByOwner.get(o) ?? 0) + us);
      }
    }
  }
  const busy = total - idle;
  const rows = (map: Map<string, number>) =>
    [...map]
      .filter(([name]) => name !== '(idle)' && name !== '(root)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, share: us / busy }));
  return {
    totalMs: total / 1000,
    busyMs: busy / 1000,
    selfByOwner: rows(selfByOwner),
    inclusiveByOwner: rows(inclusiveByOwner),
    selfByFunction: rows(selfByFunction),
  };
}

export function printRows(title: string, rows: Row[]): string {
  return [
    `### ${title}`,
    '| | ms | share of busy |',
    '| --- | ---: | ---: |',
    ...rows.map((r) => `| ${r.name} | ${r.ms.toFixed(0)} | ${(r.share * 100).toFixed(1)} % |`),
  ].join('\n');
}
