import * as path from 'node:path';

/** The parts of a V8 `.cpuprofile` (written by `node --cpu-prof`) that the summary reads. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
    readonly children?: readonly number[];
  }[];
  /** µs, on the profiled process's monotonic clock. */
  readonly startTime: number;
  readonly endTime: number;
  /** Node id of each sample. */
  readonly samples: readonly number[];
  /** µs since the previous sample (the first: since startTime). */
  readonly timeDeltas: readonly number[];
}

/** Self and total (inclusive) time of one function or category over the summarised window. */
export interface ProfileEntry {
  readonly name: string;
  readonly category: string;
  readonly selfMs: number;
  /** Share of all sampled time in the window, idle included. */
  readonly selfShare: number;
  readonly totalMs: number;
  readonly totalShare: number;
}

/** A profile reduced to tables. */
export interface ProfileSummary {
  /** Sampled time in the window, ms. */
  readonly windowMs: number;
  /** Share of the window the main thread was busy (not "(idle)"). */
  readonly busyShare: number;
  /** Functions by self time, descending. */
  readonly functions: readonly ProfileEntry[];
  /** Categories (grpc-js, prom-client, service code, GC, idle, …) by self time, descending. */
  readonly categories: readonly ProfileEntry[];
}

/**
 * Self and total time per function and per category, counting only samples taken in the last
 * `windowMs` before `endOffsetMs` ms before the profile's end (so start-up and shutdown are left out).
 * A function's total time counts a sample once even when it appears several times on the stack.
 */
export function summariseProfile(profile: CpuProfile, windowMs: number, endOffsetMs: number): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const windowEnd = profile.endTime - endOffsetMs * 1000;
  const windowStart = windowEnd - windowMs * 1000;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const categoryOf = new Map<string, string>();
  const categorySelf = new Map<string, number>();
  const keyOf = (id: number): string => {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) return '(unknown)';
    const key = frameName(frame);
    if (!categoryOf.has(key)) categoryOf.set(key, category(frame.functionName, frame.url));
    return key;
  };

  let t = profile.startTime;
  let sampled = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < windowStart || t > windowEnd) continue;
    // A sample stands for the time until the next one.
    const us = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i]!;
    const key = keyOf(id);
    sampled += us;
    if (key.startsWith('(idle)')) idle += us;
    self.set(key, (self.get(key) ?? 0) + us);
    const cat = categoryOf.get(key) ?? '(unknown)';
    categorySelf.set(cat, (categorySelf.get(cat) ?? 0) + us);
    const onStack = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) onStack.add(keyOf(at));
    for (const k of onStack) total.set(k, (total.get(k) ?? 0) + us);
  }

  const share = (us: number) => (sampled === 0 ? 0 : us / sampled);
  const functions = [...total.keys()]
    .map((name) => {
      const s = self.get(name) ?? 0;
      const tot = total.get(name) ?? 0;
      return {
        name,
        category: categoryOf.get(name) ?? '(unknown)',
        selfMs: s / 1000,
        selfShare: share(s),
        totalMs: tot / 1000,
        totalShare: share(tot),
      };
    })
    .sort((a, b) => b.selfMs - a.selfMs || b.totalMs - a.totalMs);
  const categories = [...categorySelf.entries()]
    .map(([name, s]) => ({
      name,
      category: name,
      selfMs: s / 1000,
      selfShare: share(s),
      totalMs: s / 1000,
      totalShare: share(s),
    }))
    .sort((a, b) => b.selfMs - a.selfMs);
  return { windowMs: sampled / 1000, busyShare: share(sampled - idle), functions, categories };
}

function frameName(frame: { functionName: string; url: string; lineNumber: number }): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
  if (frame.url === '') return name;
  return `${name} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
}

/** `node_modules/@grpc/grpc-js/build/src/server.js` → `@grpc/grpc-js/build/src/server.js`; dist paths kept from dist/. */
function shortUrl(url: string): string {
  const file = url.replace(/^file:\/\//, '');
  const nm = file.lastIndexOf('/node_modules/');
  if (nm >= 0) return file.slice(nm + '/node_modules/'.length);
  const dist = file.lastIndexOf('/dist/');
  if (dist >= 0) return file.slice(dist + 1);
  return file.startsWith('/') ? path.basename(file) : file;
}

/** Where time went, coarsely: which library or part of Node a frame belongs to. */
function category(functionName: string, url: string): string {
  if (url === '') {
    return functionName.startsWith('(') ? functionName : 'V8 builtins / native';
  }
  const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (m !== null) {
    const pkg = m[1] ?? '';
    return pkg === 'protobufjs' || pkg.startsWith('@protobufjs/') ? 'protobufjs (proto-loader)' : pkg;
  }
  if (url.startsWith('node:')) {
    const mod = /^node:(?:internal\/)?([a-z_0-9]+)/.exec(url)?.[1] ?? 'other';
    return `node:${mod}`;
  }
  if (url.includes('/dist/bench/')) return 'benchmark code (dist/bench/)';
  if (url.includes('/dist/')) return 'service code (dist/)';
  return 'other';
}
