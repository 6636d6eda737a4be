/**
 * Issue 9.2 and 9.4 (and issue 17's memory targets) on one fleet: N daemons on nodes that need no reboot
 * (`--period=1m`), for a window after start-up.
 *  - API load: requests per node per minute at the apiserver (audit log, the daemons' ServiceAccount only).
 *  - Memory: resident memory of each daemon at the end of the window (/proc/<pid>/status, smaps_rollup), run in
 *    the shipped form (bench/shipped.ts: the single-file bundle with the compiled binary's flags). A probe
 *    daemon runs the same bundle with bench/memprobe.ts around it, which logs `Deno.memoryUsage()`, to split the
 *    resident set into the Deno runtime, the V8 heap and the rest; another runs the sources (`deno run main.ts`)
 *    for comparison.
 *  - Memory during a drain: one more daemon, on a node with 50 pods, drains it and reboots; its peak resident
 *    memory (VmHWM) is read just before the simulated reboot kills it.
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
import { bundle, SHIPPED_FLAGS, shippedCommand } from "./shipped.ts";

const BENCH_API = "idle API";
const BENCH_MEM = "memory";
const BENCH_START = "start-up";
const DRAIN_PODS = 50;

/** Spawn → "reboot required", for one daemon alone on the machine, `rounds` times; median in ms. */
async function startupMs(
  cluster: TestCluster,
  install: Install,
  name: string,
  command: string[],
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
    const node = `start-${name}-${i}`;
    await cluster.createNode(node);
    const t0 = performance.now();
    const d = await cluster.startDaemon(node, {
      kubeconfig: install.kubeconfig,
      args: [...install.args, "--period=1m", ...closed],
      rebootRequired: true,
      command,
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

const BASELINES: Record<string, string> = {
  empty: "Deno with nothing imported",
  credentials: "Deno + kreboot's credentials (client-node's kubeconfig parsers and authenticators)",
  "client-node": "Deno + all of @kubernetes/client-node with the API clients the daemon used to make",
};

/**
 * Runs bench/baseline.ts: the Deno runtime alone, or with part of the daemon loaded. From the sources, so that
 * only the branch asked for is loaded (a bundle would hold all three); the second of two runs counts, since
 * the first one of a file also pays for Deno's dependency analysis (bench/shipped.ts).
 */
async function baseline(what: string): Promise<Baseline> {
  let out: Deno.CommandOutput | undefined;
  for (let run = 0; run < 2; run++) {
    out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...SHIPPED_FLAGS, `${REPO_ROOT}/bench/baseline.ts`, what],
      env: { BASELINE_SETTLE_MS: "10000" },
      stdin: "null",
      stderr: "null",
    }).output();
    if (!out.success) throw new Error(`bench/baseline.ts ${what} exited with ${out.code}`);
  }
  return JSON.parse(new TextDecoder().decode(out!.stdout)) as Baseline;
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

/** Peak resident memory of a shipped daemon that drains `DRAIN_PODS` pods and reboots; bytes and seconds. */
async function drainPeak(cluster: TestCluster, install: Install, command: string[]) {
  const node = "drain-peak";
  const ns = "drain-peak";
  await cluster.createNode(node);
  await cluster.ensureNamespace(ns);
  for (let i = 0; i < DRAIN_PODS; i += 10) {
    await Promise.all(
      Array.from(
        { length: Math.min(10, DRAIN_PODS - i) },
        (_, j) =>
          cluster.createPod(ns, {
            name: `web-${i + j}`,
            node,
            owner: "ReplicaSet",
            terminationGracePeriodSeconds: 0,
          }),
      ),
    );
  }
  cluster.startKubelet({ nodes: [node], intervalMs: 200 });
  let hwm = NaN;
  let drainedAt = NaN;
  const t0 = performance.now();
  const d = await cluster.startDaemon(node, {
    kubeconfig: install.kubeconfig,
    args: [...install.args, "--period=1m"],
    rebootRequired: true,
    command,
    // The simulated reboot SIGKILLs the process: read its high-water mark just before.
    rebootHooks: {
      before: (daemon) => {
        hwm = procMemory(daemon.proc.pid)?.hwm ?? NaN;
        drainedAt = performance.now();
      },
    },
  });
  await d.waitForReboots(1, 180_000);
  await d.stop();
  return { hwm, seconds: (drainedAt - t0) / 1000 };
}

export async function idle(o: BenchOptions): Promise<BenchResult> {
  const n = o.quick ? 5 : 20;
  const windowMs = o.quick ? 60_000 : 300_000;
  const rounds = o.quick ? 1 : 3;
  const rows: Row[] = [];
  const notes: string[] = [];
  const dir = await Deno.makeTempDir({ prefix: "kreboot-bench-idle-" });
  try {
    const daemonJs = await bundle("main.ts", dir);
    const probeJs = await bundle("bench/memprobe.ts", dir);
    const shipped = shippedCommand(daemonJs);
    const source = [Deno.execPath(), "run", "-A", `${REPO_ROOT}/main.ts`];
    await using cluster = await startCluster({ audit: true });

    // Start-up first, while nothing else of this benchmark runs.
    const starter = await installKreboot(cluster, "starter");
    const startShipped = await startupMs(cluster, starter, "shipped", shipped, rounds);
    const startSource = await startupMs(cluster, starter, "source", source, rounds);
    o.progress(`${BENCH_START}: shipped ${sec(startShipped, 2)}, source ${sec(startSource, 2)}`);

    const baselines = [];
    for (const what of Object.keys(BASELINES)) baselines.push(await baseline(what));

    const install = await installKreboot(cluster, "idle");
    const user = serviceAccountUser(install.namespace, install.dsName);
    const fleet = Array.from({ length: n }, (_, i) => `idle-${String(i).padStart(2, "0")}`);
    const probes = [
      { name: "probe-shipped", command: shippedCommand(probeJs) },
      { name: "probe-source", command: [Deno.execPath(), "run", "-A", `${REPO_ROOT}/bench/memprobe.ts`] },
    ];
    for (const name of [...fleet, ...probes.map((p) => p.name)]) await cluster.createNode(name);
    const loadBefore = loadAverage();
    const args = [...install.args, "--period=1m"];
    const daemons = await Promise.all(
      fleet.map((name) =>
        cluster.startDaemon(name, { kubeconfig: install.kubeconfig, args, command: shipped })
      ),
    );
    const probeDaemons = await Promise.all(
      probes.map((p) =>
        cluster.startDaemon(p.name, { kubeconfig: install.kubeconfig, args, command: p.command })
      ),
    );
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
    rows.push(bounded(
      BENCH_MEM,
      `idle RSS after ${sec(windowMs + 10_000, 0)}, shipped bundle (median of ${fleetMem.length})`,
      rss / 2 ** 20,
      80,
      " MiB",
      1,
    ));
    rows.push(row(
      BENCH_MEM,
      "  of which anonymous / file-backed (deno binary pages) / private",
      `${mib(median(fleetMem.map((m) => m.rssAnon)))} / ${mib(median(fleetMem.map((m) => m.rssFile)))} / ${
        mib(median(fleetMem.map((m) => m.privateBytes)))
      }`,
    ));
    rows.push(
      row(BENCH_MEM, "  peak RSS while idle (VmHWM, median)", mib(median(fleetMem.map((m) => m.hwm)))),
    );
    const empty = baselines.find((b) => b.what === "empty");
    for (const [i, p] of probes.entries()) {
      const d = probeDaemons[i]!;
      const m = procMemory(d.proc.pid);
      const heap = lastProbe(d.lines);
      rows.push(row(
        BENCH_MEM,
        `${
          p.name === "probe-shipped" ? "shipped bundle" : "sources (deno run main.ts)"
        }: RSS · V8 heap used/total · ` +
          "external · the rest",
        m && heap && empty
          ? `${mib(m.rss)} · ${mib(heap.heapUsed)}/${mib(heap.heapTotal)} · ${mib(heap.external)} · ${
            mib(m.rss - empty.rss - heap.heapTotal)
          }`
          : "no probe line",
      ));
    }
    for (const b of baselines) {
      rows.push(row(
        BENCH_MEM,
        `baseline: ${BASELINES[b.what]}: RSS (anon/file) · heap used/total`,
        `${mib(b.rss)} (${mib(b.rssAnon, 0)}/${mib(b.rssFile, 0)}) · ${mib(b.memoryUsage.heapUsed)}/${
          mib(b.memoryUsage.heapTotal)
        }`,
      ));
    }
    notes.push(
      `memory breakdown: the shipped daemon's RSS = the Deno runtime with nothing imported (baseline) + the V8 ` +
        `heap it allocated (heap total) + the rest (compiled code and bytecode outside the heap, the runtime's ` +
        `own buffers). Load average ${loadBefore.toFixed(2)} when the fleet started, ` +
        `${loadAverage().toFixed(2)} at the end of the window.`,
    );
    await Promise.all(all.map((d) => d.stop()));

    const drain = await drainPeak(cluster, install, shipped);
    o.progress(`${BENCH_MEM}: drain of ${DRAIN_PODS} pods, peak ${mib(drain.hwm)}`);
    rows.push(bounded(
      BENCH_MEM,
      `peak RSS (VmHWM) of a shipped daemon that drains ${DRAIN_PODS} pods and reboots`,
      drain.hwm / 2 ** 20,
      100,
      " MiB",
      1,
    ));
    notes.push(`the drain of ${DRAIN_PODS} pods took ${drain.seconds.toFixed(1)} s from spawn to reboot.`);

    rows.push(row(
      BENCH_START,
      `spawn → first decision logged, one daemon alone (median of ${rounds}): shipped bundle`,
      sec(startShipped, 2),
    ));
    rows.push(row(BENCH_START, "  the same from the sources (deno run main.ts)", sec(startSource, 2)));
    return { rows, notes };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
