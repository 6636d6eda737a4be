/** The condition's settling (lib/report/settling.ts). */
import assert from "node:assert/strict";
import { Settling } from "../../../lib/report/settling.ts";
import { Reporter } from "../../../lib/report/reporter.ts";
import { Logger } from "../../../lib/log.ts";
import { Metrics } from "../../../lib/report/metrics.ts";
import { CONFIG, step } from "./reporter_support.ts";
import { fakeKube } from "./fake_kube.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("Settling: only the value that stood is passed on; flush passes the waiting one at once", async () => {
  const passed: string[] = [];
  const s = new Settling<string>(40, (v) => passed.push(v));
  s.put("a");
  s.put("b");
  s.put("c");
  assert.deepEqual(passed, [], "nothing before the value stood");
  await sleep(80);
  assert.deepEqual(passed, ["c"]);
  s.put("d");
  s.flush();
  assert.deepEqual(passed, ["c", "d"], "flush does not wait");
  s.flush();
  await sleep(60);
  assert.deepEqual(passed, ["c", "d"], "nothing twice");
  const atOnce: string[] = [];
  const zero = new Settling<string>(0, (v) => atOnce.push(v));
  zero.put("x");
  zero.put("y");
  assert.deepEqual(atOnce, ["x", "y"]);
});

function conditionsOf(f: ReturnType<typeof fakeKube>): string[] {
  return f.of("patchNodeStatus").map((c) => {
    const cond = (c.params.body as { status: { conditions: { status: string; reason: string }[] } }).status
      .conditions[0]!;
    return `${cond.status}/${cond.reason}`;
  });
}

Deno.test("Reporter: condition steps replaced within moments are not written; every Event is, and the reboot flushes", async () => {
  const f = fakeKube();
  const r = new Reporter({
    config: { ...CONFIG, notifyUrl: "", annotateNodes: false },
    kube: f.kube,
    log: new Logger({ format: "json", node: "n1", sink: () => {} }),
    metrics: new Metrics("n1", { defaultMetrics: false }),
    conditionSettleMs: 60,
  });
  // A node that finds the slots taken, later takes one, cordons and drains, all within moments each.
  step(r, "required", "RebootRequired", "reboot required");
  step(r, "waiting", "RebootBlocked", "all 1 slot(s) held by n2", { blockReason: "lock" });
  await sleep(150);
  step(r, "cordoning", "SlotAcquired", "slot acquired");
  step(r, "draining", "Cordoned", "node cordoned");
  r.report({ reason: "Draining", message: "draining node" }, "draining");
  await sleep(150);
  assert.deepEqual(conditionsOf(f), ["True/BlockedByLock", "True/Draining"]);
  // The reboot command waits for the step before it, which must not wait to stand.
  step(r, "rebooting", "Rebooting", "rebooting node");
  await r.flushWrites(5_000);
  assert.deepEqual(conditionsOf(f), ["True/BlockedByLock", "True/Draining", "True/Rebooting"]);
  const events = f.of("createNamespacedEvent").map((c) => (c.params.body as { reason: string }).reason);
  assert.deepEqual(events, [
    "RebootRequired",
    "RebootBlocked",
    "SlotAcquired",
    "Cordoned",
    "Draining",
    "Rebooting",
  ]);
  await r.flush();
});
