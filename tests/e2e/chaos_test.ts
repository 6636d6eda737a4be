/**
 * Seeded chaos runs in CI (tests/harness/chaos.ts): ten seeds, three at a time (KREBOOT_CHAOS_PARALLEL), each on
 * its own cluster with controllers and six daemons, refereed by the safety monitor. Reproduce one with
 * `deno task chaos --runs 1 --seed <seed>`, or run other seeds here with KREBOOT_CHAOS_SEEDS=3,17,… . The seeds
 * are fixed so that CI is repeatable; the interleaving with the daemons still differs from run to run, which is
 * the point.
 */
import assert from "node:assert/strict";
import { type ChaosResult, runChaos } from "../harness/chaos.ts";

const SEEDS = (Deno.env.get("KREBOOT_CHAOS_SEEDS") ?? "1,2,3,4,5,6,7,8,9,10").split(",").map((s) =>
  Number(s.trim())
);
const PARALLEL = Number(Deno.env.get("KREBOOT_CHAOS_PARALLEL") ?? "3");

Deno.test(`chaos: ${SEEDS.length} seeded runs end rebooted once, in service, slots free, no violation`, async () => {
  const results: ChaosResult[] = [];
  // By run, not by seed: a seed may be given more than once (to repeat a rare interleaving).
  const logs = new Map<ChaosResult, string[]>();
  let next = 0;
  const worker = async () => {
    while (next < SEEDS.length) {
      const seed = SEEDS[next++] ?? 0;
      const lines: string[] = [];
      const r = await runChaos(seed, { log: (l) => lines.push(l) });
      console.log(r.summary);
      logs.set(r, lines);
      results.push(r);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  const failed = results.filter((r) => !r.ok);
  // The daemons' logs first and the verdicts last: CI keeps only the tail of a long failure.
  const logsOfFailed = failed.map((r) => `seed ${r.seed}:\n${(logs.get(r) ?? []).join("\n")}`).join(
    "\n\n",
  );
  const verdicts = failed.map((r) => r.summary).join("\n");
  assert.equal(
    failed.length,
    0,
    `${logsOfFailed}\n\nfailed seeds ${failed.map((r) => r.seed).join(",")}:\n${verdicts}`,
  );
  // Each run had its chaos: a node deleted while holding a slot, and kill -9 (a kill that lands during a simulated
  // reboot is skipped, so fewer than scheduled may count).
  for (const r of results) {
    assert.ok(r.deletedNode !== undefined, `seed ${r.seed} deleted no node`);
    assert.ok(r.crashes >= 1, `seed ${r.seed}: ${r.crashes} kill -9`);
  }
});
