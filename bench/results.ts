/**
 * The results table for the terminal and bench/RESULTS.md. A run rewrites only the block between the markers in
 * RESULTS.md, so the hand-written analysis around it survives the next run.
 */
import type { Row } from "./common.ts";

export interface RunInfo {
  started: Date;
  durationMs: number;
  loadBefore: number;
  loadAfter: number;
  machine: { cpus: number; memGiB: number; cpuModel: string; kernel: string };
  quick: boolean;
  only: string[];
  denoVersion: string;
}

export const START_MARKER = "<!-- results:start -->";
export const END_MARKER = "<!-- results:end -->";

const VERDICT = { met: "met", missed: "**missed**", info: "" } as const;

function escapeCell(s: string): string {
  return s.replaceAll("|", "\\|");
}

export function renderTable(rows: readonly Row[]): string {
  const lines = [
    "| benchmark | metric | value | target | verdict |",
    "| --- | --- | --- | --- | --- |",
    ...rows.map((r) =>
      `| ${r.bench} | ${escapeCell(r.metric)} | ${escapeCell(r.value)} | ${escapeCell(r.target)} | ${
        VERDICT[r.verdict]
      } |`
    ),
  ];
  return lines.join("\n");
}

export function renderBlock(
  run: RunInfo,
  rows: readonly Row[],
  notes: Record<string, string[]>,
  failures: readonly string[],
): string {
  const m = run.machine;
  const out = [
    START_MARKER,
    "",
    `Measured ${run.started.toISOString().replace(/\.\d+Z$/, "Z")} in ${
      (run.durationMs / 60_000).toFixed(1)
    } min with \`deno task bench${run.quick ? " --quick" : ""}\` (${
      run.only.join(", ")
    }) on ${m.cpus} CPUs ` +
    `(${m.cpuModel}), ${m.memGiB.toFixed(1)} GiB RAM, Linux ${m.kernel}, Deno ${run.denoVersion}. ` +
    `Load average (1 min) ${run.loadBefore.toFixed(2)} before the run, ${run.loadAfter.toFixed(2)} after.`,
    "",
    renderTable(rows),
    "",
  ];
  for (const [name, ns] of Object.entries(notes)) {
    if (ns.length === 0) continue;
    out.push(`**${name}**`, "", ...ns.map((n) => `- ${n}`), "");
  }
  if (failures.length) {
    out.push("**Benchmarks that could not run**", "", ...failures.map((f) => `- ${f.split("\n")[0]}`), "");
  }
  out.push(END_MARKER);
  return out.join("\n");
}

/** The new RESULTS.md: the existing file with its results block replaced, or a fresh file. */
export function renderResults(
  run: RunInfo,
  rows: readonly Row[],
  notes: Record<string, string[]>,
  failures: readonly string[],
  existing = readExisting(),
): string {
  const block = renderBlock(run, rows, notes, failures);
  const start = existing.indexOf(START_MARKER);
  const end = existing.indexOf(END_MARKER);
  if (start >= 0 && end > start) {
    return `${existing.slice(0, start)}${block}${existing.slice(end + END_MARKER.length)}`;
  }
  return `# Benchmark results\n\n${block}\n`;
}

function readExisting(): string {
  try {
    return Deno.readTextFileSync(new URL("./RESULTS.md", import.meta.url));
  } catch {
    return "";
  }
}
