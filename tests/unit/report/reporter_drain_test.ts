/** The Reporter's part in drain blockers (lib/drain/blocked.ts): the condition, Events, metric and notification. */
import assert from "node:assert/strict";
import { Logger } from "../../../lib/log.ts";
import { Metrics } from "../../../lib/report/metrics.ts";
import { Reporter } from "../../../lib/report/reporter.ts";
import { fakeKube } from "./fake_kube.ts";
import { CONFIG, metric, setup, step } from "./reporter_support.ts";

Deno.test("Reporter: drain blockers go to the condition, a DrainBlocked Event and the metric; [] puts the condition back", async () => {
  const s = setup();
  const r = s.reporter;
  step(r, "draining", "Draining", "draining node");
  r.drainBlocked([
    {
      kind: "admission",
      pod: "kafka/k-0",
      by: 'admission webhook "dc"',
      status: 400,
      message: "denied the request: I move it",
    },
    {
      kind: "pdb",
      pod: "shop/web-1",
      pdbs: [{ name: "shop/web", allowed: 0, healthy: 2, desired: 2, stale: false }],
    },
  ]);
  let text = await s.metrics.text();
  assert.equal(metric(text, 'kreboot_drain_blocked_pods{node="n1",reason="admission"}'), 1);
  assert.equal(metric(text, 'kreboot_drain_blocked_pods{node="n1",reason="pdb"}'), 1);
  assert.equal(metric(text, 'kreboot_drain_blocked_pods{node="n1",reason="other"}'), 0);
  r.drainBlocked([]);
  await r.flush();
  text = await s.metrics.text();
  assert.equal(metric(text, 'kreboot_drain_blocked_pods{node="n1",reason="admission"}'), 0);
  const events = s.f.of("createNamespacedEvent").map((c) =>
    c.params.body as { reason: string; type: string; note: string }
  );
  const blocked = events.find((e) => e.reason === "DrainBlocked");
  assert.equal(blocked?.type, "Warning");
  assert.equal(
    blocked?.note,
    'drain blocked by 2 pods: pod kafka/k-0: eviction denied by admission webhook "dc" (HTTP 400): I move it; ' +
      "pod shop/web-1: PodDisruptionBudget shop/web allows 0 disruptions (2 healthy, 2 desired)",
  );
  const conditions = s.f.of("patchNodeStatus").map((c) => {
    const cond = (c.params.body as { status: { conditions: { reason: string; message: string }[] } }).status
      .conditions[0]!;
    return `${cond.reason}: ${cond.message.slice(0, 26)}`;
  });
  assert.deepEqual(conditions, [
    "Draining: draining node",
    "DrainBlocked: drain blocked by 2 pods: p",
    "Draining: draining node",
  ]);
  assert.deepEqual(s.sent.map((m) => m.body.message), ["Draining node n1"], "blockers notify nobody");
});

Deno.test("Reporter: a pod deleted instead of evicted is a Warning Event and a notification", async () => {
  const s = setup();
  s.reporter.evictionBypassed("shop/db-0", "pod shop/db-0: PodDisruptionBudget shop/db allows 0 disruptions");
  await s.reporter.flush();
  const ev = s.f.of("createNamespacedEvent").map((c) =>
    c.params.body as { reason: string; type: string; note: string }
  );
  assert.deepEqual(ev.map((e) => `${e.type} ${e.reason}`), ["Warning EvictionBypassed"]);
  assert.match(
    ev[0]?.note ?? "",
    /^deleted pod shop\/db-0 instead of evicting it, bypassing .*allows 0 disruptions$/,
  );
  assert.equal(s.sent.length, 1);
  assert.match(s.sent[0]?.body.message ?? "", /deleted pod shop\/db-0 instead of evicting it/);
});

Deno.test("Reporter: the DrainBlocked condition writes are announced to the node watch, each with what it wrote", async () => {
  const f = fakeKube();
  const writes: Promise<unknown>[] = [];
  const reporter = new Reporter({
    config: { ...CONFIG, notifyUrl: "", annotateNodes: false },
    kube: f.kube,
    log: new Logger({ format: "json", node: "n1", sink: () => {} }),
    metrics: new Metrics("n1", { defaultMetrics: false }),
    nodeWrites: (w) => writes.push(w),
    conditionSettleMs: 0,
  });
  step(reporter, "draining", "Draining", "draining node");
  const blocker = { kind: "namespace-terminating", pod: "gone/x", namespace: "gone" } as const;
  reporter.drainBlocked([blocker]);
  reporter.drainBlocked([]);
  // Nothing blocked the drain: [] writes nothing and is announced as nothing.
  reporter.drainBlocked([]);
  await reporter.flush();
  const answers = await Promise.all(writes);
  assert.equal(answers.length, 4);
  assert.deepEqual(answers.map((a) => a !== undefined), [true, true, true, false]);
  assert.equal(f.of("patchNodeStatus").length, 3);
});
