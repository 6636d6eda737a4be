/** The drain's record of the pods that hold it up: reported at once, then throttled, and cleared at the end. */
import assert from "node:assert/strict";
import { BlockedPods } from "../../../lib/drain/blocked.ts";
import type { DrainBlocker } from "../../../lib/drain/blockers.ts";

const pdb = (pod: string, healthy: number): DrainBlocker => ({
  kind: "pdb",
  pod,
  pdbs: [{ name: "ns/web", allowed: 0, healthy, desired: 2, stale: false }],
});
const denied: DrainBlocker = {
  kind: "admission",
  pod: "ns/k-0",
  by: 'admission webhook "w"',
  status: 400,
  message: "no",
};

Deno.test("BlockedPods: the first block at once, changes at most once per interval, nothing twice, [] at the end", () => {
  let now = 0;
  const reports: string[][] = [];
  const b = new BlockedPods({
    intervalMs: 5_000,
    now: () => now,
    onBlocked: (x) => reports.push(x.map((y) => y.pod)),
  });
  b.flush();
  assert.deepEqual(reports, [], "nothing blocks: nothing to say");
  b.refused("ns/web-1", pdb("ns/web-1", 2));
  b.flush();
  assert.deepEqual(reports, [["ns/web-1"]]);
  b.refused("ns/web-1", pdb("ns/web-1", 2));
  now = 10_000;
  b.flush();
  assert.equal(reports.length, 1, "the same cause is not reported again");
  b.refused("ns/k-0", denied);
  now = 11_000;
  b.flush();
  assert.equal(reports.length, 2, "a change after the interval is reported");
  assert.deepEqual(reports[1], ["ns/k-0", "ns/web-1"], "sorted by pod");
  b.cleared("ns/web-1");
  now = 12_000;
  b.flush();
  assert.equal(reports.length, 2, "within the interval: held back");
  now = 16_000;
  b.flush();
  assert.deepEqual(reports[2], ["ns/k-0"]);
  b.finish();
  assert.deepEqual(reports[3], [], "the end of the drain clears what was reported");
  b.finish();
  assert.equal(reports.length, 4, "once");
});

Deno.test("BlockedPods: counts each pod's admission denials, not its other refusals", () => {
  const b = new BlockedPods();
  assert.equal(b.refused("ns/k-0", denied), 1);
  assert.equal(b.refused("ns/k-0", denied), 2);
  assert.equal(b.refused("ns/web-1", pdb("ns/web-1", 1)), 0);
  assert.equal(b.refused("ns/k-0", denied), 3);
  b.cleared("ns/k-0");
  assert.equal(b.refused("ns/k-0", denied), 1, "a pod that got through starts afresh");
});
