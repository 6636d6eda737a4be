/**
 * Issue 9.2 and 9.4 on one fleet: N daemons on nodes that need no reboot (`--period=1m`), for a window after
 * start-up.
 *  - API load: requests per node per minute at the apiserver (audit log, the daemons' ServiceAccount only).
 *  - Memory: resident memory of each daemon at the end of the window (/proc/<pid>/status, smaps_rollup), run as
 *    the DaemonSet runs it (`deno run -A main.ts`; `deno compile` needs the denort download, not reachable
 *    here). Extra daemons run main.ts through bench/memprobe.ts, which logs `Deno.memoryUsage()`, with a few V8
 *    flag sets, to show what the resident set is made of and what the flags change.
 *  - Start-up: process spawn to the first decision logged (a node whose sentinel exists at start logs "reboot
 *    required" at its first check; a closed reboot window keeps it from going further), one daemon at a time.
 */
import { REPO_ROOT, startCluster, type TestCluster } from "../tests/harness/mod.ts";
import { type Install, installKreboot } from "../tests/e2e/support.ts";
import {
  auditRequests,
  type BenchOptions,
  type BenchResult,
  bounded,
  breakdown,
  loadAverage,
  median,
  mib,
  procMemory,
  type Row,
  row,
  sec,
  serviceAccountUser,
  sleep,
} from "./common.ts";

const BENCH_API = "idle API";
const BENCH_MEM = "memory";
const BENCH_START = "start-up";

interface Variant {
  name: string;
  /** Flags between `deno run -A` and the script. */
  denoFlags: string[];
}

/** V8 flag sets tried on top of the default; each runs main.ts through the memory probe. */
const VARIANTS: Variant[] = [
  { name: "default", denoFlags: [] },
  { name: "--max-semi-space-size=1", denoFlags: ["--v8-flags=--max-semi-space-size=1"] },
  {
    name: "--max-old-space-size=64,--max-semi-space-size=1",
    denoFlags: ["--v8-flags=--max-old-space-size=64,--max-semi-space-size=1"],
  },
  { name: "--lite-mode", denoFlags: ["--v8-flags=--lite-mode"] },
  { name: "--single-threaded", denoFlags: ["--v8-flags=--single-threaded"] },
];

function command(v: Variant, script: string): string[] {
  return [Deno.execPath(), "run", "-A", ...v.denoFlags, `${REPO_ROOT}/${script}`];
}

/** Spawn → "reboot required", for one daemon alone on the machine, `rounds` times; median in ms. */
async function startupMs(
  cluster: TestCluster,
  install: Install,
  v: Variant,
  rounds: number,
): Promise<number> {
  const times: number[] = [];
  const now = new Date();
  // A window that is closed now: the daemon decides "reboot required", then "blocked", and changes nothing.
  const closed = [
    `--start-time=${(now.getUTCHours() + 2) % 24}:00`,
    `--end-time=${(now.getUTCHours() + 3) % 24}:00`,
  ];
  for (let i = 0; i < rounds; i++) {
    const node = `start-${v.name.replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "")}-${i}`;
    await cluster.createNode(node);
    const t0 = performance.now();
    const d = await cluster.startDaemon(node, {
      kubeconfig: install.kubeconfig,
      args: [...install.args, "--period=1m", ...closed],
      rebootRequired: true,
      command: command(v, "main.ts"),
    });
    await d.waitForJson((e) => e.reason === "RebootRequired", 60_000);
    times.push(performance.now() - t0);
    await d.stop();
  }
  return median(times);
}

interface Baseline {
  what: string;
  memoryUsage: { heapUsed: number; heapTotal: number; external: number };
  rss: number;
  rssAnon: number;
  rssFile: number;
}

/** Runs bench/baseline.ts: the Deno runtime alone, and with only the Kubernetes client library loaded. */
async function baseline(what: string): Promise<Baseline> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO_ROOT}/bench/baseline.ts`, what],
    env: { BASELINE_SETTLE_MS: "10000" },
    stdin: "null",
    stderr: "null",
  }).output();
  if (!out.success) throw new Error(`bench/baseline.ts ${what} exited with ${out.code}`);
  return JSON.parse(new TextDecoder().decode(out.stdout)) as Baseline;
}

interface Probe {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
}

function lastProbe(lines: readonly { text: string }[]): Probe | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const t = lines[i]!.text;
    if (!t.startsWith('{"memprobe"')) continue;
    return (JSON.parse(t) as { memprobe: Probe }).memprobe;
  }
  return undefined;
}

export async function idle(o: BenchOptions): Promise<BenchResult> {
  const n = o.quick ? 5 : 20;
  const windowMs = o.quick ? 60_000 : 300_000;
  const rounds = o.quick ? 1 : 3;
  const rows: Row[] = [];
  const notes: string[] = [];
  await using cluster = await startCluster({ audit: true });

  // Start-up first, while nothing else of this benchmark runs.
  const starter = await installKreboot(cluster, "starter");
  const startup = new Map<string, number>();
  for (const v of VARIANTS) {
    startup.set(v.name, await startupMs(cluster, starter, v, rounds));
    o.progress(`${BENCH_START}: ${v.name}: ${sec(startup.get(v.name)!, 2)}`);
  }

  const baselines = [await baseline("empty"), await baseline("client-node")];

  const install = await installKreboot(cluster, "idle");
  const user = serviceAccountUser(install.namespace, install.dsName);
  const fleet = Array.from({ length: n }, (_, i) => `idle-${String(i).padStart(2, "0")}`);
  const probes = VARIANTS.map((v) => ({ v, node: `probe-${VARIANTS.indexOf(v)}` }));
  for (const name of [...fleet, ...probes.map((p) => p.node)]) await cluster.createNode(name);
  const loadBefore = loadAverage();
  const daemons = await Promise.all(
    fleet.map((name) =>
      cluster.startDaemon(name, { kubeconfig: install.kubeconfig, args: [...install.args, "--period=1m"] })
    ),
  );
  const probeDaemons = await Promise.all(probes.map((p) =>
    cluster.startDaemon(p.node, {
      kubeconfig: install.kubeconfig,
      args: [...install.args, "--period=1m"],
      command: command(p.v, "bench/memprobe.ts"),
    })
  ));
  const all = [...daemons, ...probeDaemons];
  await Promise.all(all.map((d) => d.waitForLine(/kreboot starting/, 180_000)));
  // Start-up reads happen right after the first line; the window starts once they are surely done.
  await sleep(10_000);
  const from = Date.now();
  o.progress(`${BENCH_API}: ${all.length} daemons idle; counting requests for ${sec(windowMs, 0)}`);
  await sleep(windowMs);
  const to = Date.now();

  const reqs = await auditRequests(cluster.cp.auditLogPath!, user);
  const inWindow = reqs.filter((r) => r.at >= from && r.at < to);
  const before = reqs.filter((r) => r.at < from);
  const perNodeMin = inWindow.length / all.length / (windowMs / 60_000);
  rows.push(bounded(
    BENCH_API,
    `${all.length} idle daemons, ${sec(windowMs, 0)} after start-up: requests per node per minute`,
    perNodeMin,
    0,
    "",
    3,
  ));
  rows.push(row(BENCH_API, "requests per daemon at start-up", (before.length / all.length).toFixed(1)));
  notes.push(
    `window ${new Date(from).toISOString()} – ${
      new Date(to).toISOString()
    } with --period=1m (several periods ` +
      `pass): requests in the window: ${breakdown(inWindow)}; at start-up: ${breakdown(before)}.`,
  );

  // Memory at the end of the window.
  const fleetMem = daemons.map((d) => procMemory(d.proc.pid)).filter((m) => m !== undefined);
  const rss = median(fleetMem.map((m) => m.rss));
  rows.push(
    bounded(
      BENCH_MEM,
      `idle RSS after ${sec(windowMs + 10_000, 0)}, deno run -A main.ts (median of ${fleetMem.length})`,
      rss / 2 ** 20,
      60,
      " MiB",
      1,
    ),
  );
  rows.push(row(
    BENCH_MEM,
    "  of which anonymous / file-backed (deno binary pages) / private",
    `${mib(median(fleetMem.map((m) => m.rssAnon)))} / ${mib(median(fleetMem.map((m) => m.rssFile)))} / ${
      mib(median(fleetMem.map((m) => m.privateBytes)))
    }`,
  ));
  rows.push(row(BENCH_MEM, "  peak RSS (VmHWM, median)", mib(median(fleetMem.map((m) => m.hwm)))));
  for (const [i, p] of probes.entries()) {
    const d = probeDaemons[i]!;
    const m = procMemory(d.proc.pid);
    const heap = lastProbe(d.lines);
    rows.push(row(
      BENCH_MEM,
      `V8 flags ${p.v.name}: RSS (anon/file) · heap used/total · external · start-up`,
      `${m ? `${mib(m.rss)} (${mib(m.rssAnon, 0)}/${mib(m.rssFile, 0)})` : "?"} · ${
        heap ? `${mib(heap.heapUsed)}/${mib(heap.heapTotal)} · ${mib(heap.external)}` : "no probe line"
      } · ${sec(startup.get(p.v.name) ?? NaN, 2)}`,
    ));
  }
  for (const b of baselines) {
    rows.push(row(
      BENCH_MEM,
      b.what === "empty"
        ? "baseline: deno with nothing imported, RSS (anon/file) · heap used/total"
        : "baseline: deno + @kubernetes/client-node only, RSS (anon/file) · heap used/total",
      `${mib(b.rss)} (${mib(b.rssAnon, 0)}/${mib(b.rssFile, 0)}) · ${mib(b.memoryUsage.heapUsed)}/${
        mib(b.memoryUsage.heapTotal)
      }`,
    ));
  }
  rows.push(row(
    BENCH_START,
    `spawn → first decision logged, one daemon alone (median of ${rounds})`,
    sec(startup.get("default") ?? NaN, 2),
  ));
  notes.push(
    `load average ${loadBefore.toFixed(2)} when the fleet started, ${loadAverage().toFixed(2)} at the end ` +
      `of the window. \`deno run\` does not type-check (Deno 2), so --no-check changes nothing; the npm ` +
      `packages and the transpiled modules come from the warm DENO_DIR.`,
  );
  await Promise.all(all.map((d) => d.stop()));
  return { rows, notes };
}
