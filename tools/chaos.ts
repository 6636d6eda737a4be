/**
 * `deno task chaos [--runs N] [--seed S] [--quiet]`: seeded chaos runs (tests/harness/chaos.ts) one after the
 * other, each on a fresh control plane, refereed by the safety monitor. Prints every run's seed and outcome,
 * then the totals. Seeds are S, S+1, ... (S random unless given), so any run can be repeated with
 * `--runs 1 --seed <its seed>`. `--parallel P` runs P at a time (each has its own control plane and six daemons;
 * mind the machine). Exit code 1 when any run failed.
 */
import { type ChaosResult, runChaos } from "../tests/harness/chaos.ts";

function usage(msg: string): never {
  console.error(`chaos: ${msg}\nusage: deno task chaos [--runs N] [--seed S] [--parallel P] [--quiet]`);
  Deno.exit(2);
}

function parseArgs(args: string[]): { runs: number; seed: number; parallel: number; quiet: boolean } {
  let runs = 1;
  let parallel = 1;
  let seed = Math.floor(Math.random() * 2 ** 31);
  let quiet = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? "";
    const [flag, inline] = a.includes("=") ? a.split("=", 2) as [string, string] : [a, undefined];
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined || !/^\d+$/.test(v)) usage(`${flag} needs a non-negative integer`);
      return Number(v);
    };
    if (flag === "--runs") runs = value();
    else if (flag === "--seed") seed = value();
    else if (flag === "--parallel") parallel = value();
    else if (flag === "--quiet") quiet = true;
    else usage(`unknown argument ${a}`);
  }
  if (runs < 1) usage("--runs must be at least 1");
  if (parallel < 1) usage("--parallel must be at least 1");
  return { runs, seed, parallel, quiet };
}

const { runs, seed, parallel, quiet } = parseArgs(Deno.args);
const started = Date.now();
const results: ChaosResult[] = [];
let next = 0;
async function worker(): Promise<void> {
  while (next < runs) {
    const s = (seed + next++) >>> 0;
    const r = await runChaos(s, quiet ? {} : { log: (l) => console.log(`  [${s}] ${l}`) });
    results.push(r);
    console.log(`[${results.length}/${runs}] ${r.summary}`);
  }
}
await Promise.all(Array.from({ length: Math.min(parallel, runs) }, worker));
const failed = results.filter((r) => !r.ok);
const durations = results.map((r) => r.durationMs).sort((a, b) => a - b);
const sec = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
const violations = results.reduce((s, r) => s + r.violations.length, 0);
console.log(
  `\nchaos totals: ${runs} runs (seeds ${seed}..${(seed + runs - 1) >>> 0}), ${runs - failed.length} ok, ` +
    `${failed.length} failed, ${violations} violations, ` +
    `${results.reduce((s, r) => s + r.crashes, 0)} kill -9; duration min ${sec(durations[0] ?? 0)}, ` +
    `median ${sec(durations[Math.floor(durations.length / 2)] ?? 0)}, max ${sec(durations.at(-1) ?? 0)}, ` +
    `total ${sec(Date.now() - started)}`,
);
if (failed.length) console.log(`failed seeds: ${failed.map((r) => r.seed).join(" ")}`);
Deno.exit(failed.length ? 1 : 0);
