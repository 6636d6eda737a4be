/**
 * `deno task bench [--only a,b] [--quick] [--write|--no-write]`: runs the benchmarks of issue 9 on the e2e
 * harness (real kube-apiserver, real daemon processes), prints one table and, for a full run, writes
 * bench/RESULTS.md. Benchmarks report numbers against their targets; they never fail because a number is slow
 * (the exit code is non-zero only when a benchmark could not run at all).
 */
import { type BenchOptions, type BenchResult, loadAverage, machine, type Row } from "./common.ts";
import { drainSpeed } from "./drain.ts";
import { groups } from "./groups.ts";
import { lockScale } from "./lock.ts";
import { makespan } from "./makespan.ts";
import { idle } from "./idle.ts";
import { waiting } from "./waiting.ts";
import { renderResults, renderTable } from "./results.ts";

export const BENCHMARKS: Record<string, (o: BenchOptions) => Promise<BenchResult>> = {
  makespan,
  idle,
  waiting,
  drain: drainSpeed,
  lock: lockScale,
  groups,
};

const USAGE = `usage: deno task bench [--only ${
  Object.keys(BENCHMARKS).join(",")
}] [--quick] [--write|--no-write]

  --only     run only these benchmarks (comma-separated)
  --quick    fewer nodes, rounds and shorter windows (development; numbers are indicative only)
  --write    write bench/RESULTS.md (default for a full run: all benchmarks, not --quick)
  --no-write never write it`;

function parseArgs(args: string[]): { only: string[]; quick: boolean; write: boolean } | string {
  let only = Object.keys(BENCHMARKS);
  let quick = false;
  let write: boolean | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const [flag, inline] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a];
    switch (flag) {
      case "--only": {
        const v = inline ?? args[++i];
        if (!v) return "--only needs a list";
        only = v.split(",").map((s) => s.trim()).filter(Boolean);
        const unknown = only.filter((b) => !(b in BENCHMARKS));
        if (unknown.length) return `unknown benchmark(s): ${unknown.join(", ")}`;
        break;
      }
      case "--quick":
        quick = true;
        break;
      case "--write":
        write = true;
        break;
      case "--no-write":
        write = false;
        break;
      case "--help":
      case "-h":
        return "";
      default:
        return `unknown argument ${a}`;
    }
  }
  const full = !quick && only.length === Object.keys(BENCHMARKS).length;
  return { only, quick, write: write ?? full };
}

async function main(): Promise<number> {
  const parsed = parseArgs(Deno.args);
  if (typeof parsed === "string") {
    if (parsed) console.error(`bench: ${parsed}`);
    console.error(USAGE);
    return parsed ? 2 : 0;
  }
  const started = new Date();
  const loadBefore = loadAverage();
  const t0 = performance.now();
  const progress = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
  const rows: Row[] = [];
  const notes: Record<string, string[]> = {};
  const failures: string[] = [];
  for (const name of parsed.only) {
    progress(`${name}: starting (load average ${loadAverage().toFixed(2)})`);
    const b0 = performance.now();
    try {
      const r = await BENCHMARKS[name]!({ quick: parsed.quick, progress });
      rows.push(...r.rows);
      notes[name] = r.notes;
    } catch (e) {
      const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
      failures.push(`${name}: ${msg}`);
      progress(`${name}: FAILED: ${msg}`);
    }
    progress(`${name}: done in ${((performance.now() - b0) / 1000).toFixed(0)} s`);
  }
  const run = {
    started,
    durationMs: performance.now() - t0,
    loadBefore,
    loadAfter: loadAverage(),
    machine: machine(),
    quick: parsed.quick,
    only: parsed.only,
    denoVersion: Deno.version.deno,
  };
  console.log(renderTable(rows));
  for (const [name, ns] of Object.entries(notes)) for (const n of ns) console.log(`- ${name}: ${n}`);
  if (parsed.write) {
    const path = new URL("./RESULTS.md", import.meta.url).pathname;
    await Deno.writeTextFile(path, renderResults(run, rows, notes, failures));
    progress(`wrote ${path}`);
  }
  for (const f of failures) console.error(`bench: ${f}`);
  return failures.length ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());
