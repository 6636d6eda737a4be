/**
 * What every benchmark shares: result rows, statistics, the apiserver's audit log as a request counter, the
 * machine's load, and small waiting helpers. Benchmarks measure and report; they never fail on slow numbers.
 */
import { Logger } from "../lib/log.ts";

export type Verdict = "met" | "missed" | "info";

/** One line of the results table. */
export interface Row {
  bench: string;
  metric: string;
  value: string;
  target: string;
  verdict: Verdict;
}

/** What one benchmark hands back: its rows and the prose that explains them (what dominates, caveats). */
export interface BenchResult {
  rows: Row[];
  notes: string[];
}

export interface BenchOptions {
  /** Fewer nodes/rounds and shorter windows, for development (numbers are indicative only). */
  quick: boolean;
  /** Progress lines go here (stderr). */
  progress: (msg: string) => void;
}

export function row(
  bench: string,
  metric: string,
  value: string,
  target = "",
  verdict: Verdict = "info",
): Row {
  return { bench, metric, value, target, verdict };
}

/** A row judged against an upper bound. */
export function bounded(
  bench: string,
  metric: string,
  value: number,
  bound: number,
  unit = "",
  digits = 2,
): Row {
  return row(
    bench,
    metric,
    `${value.toFixed(digits)}${unit}`,
    `≤ ${bound}${unit}`,
    value <= bound ? "met" : "missed",
  );
}

export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

/** Nearest-rank quantile (p in [0,1]); NaN for an empty list. */
export function quantile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1));
  return s[i] ?? NaN;
}

export function sec(ms: number, digits = 1): string {
  return `${(ms / 1000).toFixed(digits)} s`;
}

export function mib(bytes: number, digits = 1): string {
  return `${(bytes / 1024 / 1024).toFixed(digits)} MiB`;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until a value comes (the e2e tests' helper). */
export { eventually as until } from "../tests/e2e/support.ts";

/** A logger that drops everything (for lock and drain clients run in-process). */
export function quietLog(node: string): Logger {
  return new Logger({ format: "json", node, sink: () => {} });
}

/** The 1-minute load average and the machine's size, for the results header. */
export function loadAverage(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return NaN;
  }
}

export function machine(): { cpus: number; memGiB: number; cpuModel: string; kernel: string } {
  let cpuModel = "unknown";
  let memGiB = NaN;
  try {
    cpuModel = Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.+)/)?.[1]?.trim() ?? cpuModel;
    const kb = Number(Deno.readTextFileSync("/proc/meminfo").match(/MemTotal:\s+(\d+)/)?.[1]);
    memGiB = kb / 1024 / 1024;
  } catch {
    // not Linux: leave unknown
  }
  return { cpus: navigator.hardwareConcurrency, memGiB, cpuModel, kernel: Deno.osRelease() };
}

/** The fields of a raw audit event a benchmark counts with. */
export interface RawAudit {
  auditID: string;
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string };
  userAgent?: string;
  objectRef?: { resource?: string; subresource?: string; name?: string };
  requestReceivedTimestamp: string;
}

/** One API request as the apiserver saw it (a watch is one request, however long it stays open). */
export interface Request {
  id: string;
  verb: string;
  resource: string;
  uri: string;
  user: string;
  /** ms since the epoch, when the apiserver received it. */
  at: number;
}

/**
 * Reads the apiserver's audit log (policy: Metadata for everything, RequestReceived omitted) and returns one
 * entry per request: a watch writes ResponseStarted and, when it ends, ResponseComplete under the same ID.
 */
export async function auditRequests(path: string, user?: string): Promise<Request[]> {
  const text = await Deno.readTextFile(path);
  const seen = new Map<string, Request>();
  for (const line of text.split("\n")) {
    if (!line) continue;
    const e = JSON.parse(line) as RawAudit;
    if (user !== undefined && e.user.username !== user) continue;
    if (seen.has(e.auditID)) continue;
    const sub = e.objectRef?.subresource ? `/${e.objectRef.subresource}` : "";
    seen.set(e.auditID, {
      id: e.auditID,
      verb: e.verb,
      resource: `${e.objectRef?.resource ?? "?"}${sub}`,
      uri: e.requestURI,
      user: e.user.username,
      at: Date.parse(e.requestReceivedTimestamp),
    });
  }
  return [...seen.values()];
}

/** "get nodes ×3, list leases ×1" for a set of requests, most frequent first. */
export function breakdown(reqs: readonly Request[]): string {
  const counts = new Map<string, number>();
  for (const r of reqs) {
    counts.set(`${r.verb} ${r.resource}`, (counts.get(`${r.verb} ${r.resource}`) ?? 0) + 1);
  }
  if (counts.size === 0) return "none";
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${n}`).join(", ");
}

export function serviceAccountUser(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

/** Resident memory details of a process from /proc (Linux), in bytes. */
export interface ProcMemory {
  rss: number;
  rssAnon: number;
  rssFile: number;
  hwm: number;
  /** From smaps_rollup: private (not shared with other processes) resident memory. */
  privateBytes: number;
}

export function procMemory(pid: number): ProcMemory | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kb = (key: string, text = status) =>
      Number(text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"))?.[1] ?? 0) * 1024;
    let privateBytes = 0;
    try {
      const roll = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
      privateBytes = kb("Private_Clean", roll) + kb("Private_Dirty", roll);
    } catch {
      // smaps_rollup needs Linux >= 4.14
    }
    return {
      rss: kb("VmRSS"),
      rssAnon: kb("RssAnon"),
      rssFile: kb("RssFile"),
      hwm: kb("VmHWM"),
      privateBytes,
    };
  } catch {
    return undefined;
  }
}
