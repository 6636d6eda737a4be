/**
 * The drain engine against an in-memory fake of the few API calls it makes: concurrency cap, per-pod 429
 * backoff while others proceed, the answers that end a drain, UID replacement, skip-wait, and dry-run.
 * (The real apiserver's behaviour is covered by tests/e2e/drain_test.ts.)
 */
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { drain, type DrainOptions, type EvictionResult } from "../../../lib/drain/mod.ts";
import { ApiError, type Kube } from "../../../lib/kube/mod.ts";
import { Logger } from "../../../lib/log.ts";

type Answer = "accept" | { code: number; body?: Record<string, unknown>; headers?: Record<string, string> };

function apiError(a: Exclude<Answer, "accept">) {
  return new ApiError(
    a.code,
    JSON.stringify({ kind: "Status", code: a.code, ...a.body }),
    { ...a.headers },
    "fake",
  );
}

const TOO_MANY: Answer = {
  code: 429,
  body: { details: { causes: [{ reason: "DisruptionBudget", message: "The disruption budget b needs 1" }] } },
};

class FakeCluster {
  pods = new Map<string, k8s.V1Pod>();
  /** Per pod, the answers to its successive eviction requests; the last one repeats. */
  answers = new Map<string, Answer[]>();
  evictions: { key: string; at: number; dryRun: boolean }[] = [];
  deletes: string[] = [];
  inFlight = 0;
  peak = 0;
  /** Pods that become terminating stay until this many further lists have seen them. */
  linger = 1;
  #seen = new Map<string, number>();
  #t0 = performance.now();

  add(name: string, opts: { phase?: string; owner?: string; terminatingSinceMs?: number } = {}): void {
    const metadata: k8s.V1ObjectMeta = { namespace: "ns", name, uid: `${name}-uid-1` };
    if (opts.owner) {
      metadata.ownerReferences = [{
        apiVersion: "apps/v1",
        kind: opts.owner,
        name: "o",
        uid: "o",
        controller: true,
      }];
    }
    if (opts.terminatingSinceMs !== undefined) {
      metadata.deletionTimestamp = new Date(Date.now() - opts.terminatingSinceMs);
    }
    this.pods.set(`ns/${name}`, {
      metadata,
      spec: { nodeName: "n1", containers: [] },
      status: { phase: opts.phase ?? "Running" },
    });
  }

  #terminate(key: string): void {
    const pod = this.pods.get(key);
    if (pod?.metadata && !pod.metadata.deletionTimestamp) pod.metadata.deletionTimestamp = new Date();
  }

  /** How many lists of the node's pods were made. */
  lists = 0;

  readonly core = {
    listPodForAllNamespaces: (p: { fieldSelector?: string }) => {
      assert.equal(p.fieldSelector, "spec.nodeName=n1");
      this.lists++;
      for (const [key, pod] of this.pods) {
        if (!pod.metadata?.deletionTimestamp || (pod.metadata.name ?? "").startsWith("stuck")) continue;
        const n = (this.#seen.get(key) ?? 0) + 1;
        this.#seen.set(key, n);
        if (n > this.linger) this.pods.delete(key);
      }
      return Promise.resolve({ items: [...this.pods.values()], metadata: {} });
    },
    createNamespacedPodEviction: async (p: { namespace: string; name: string; dryRun?: string }) => {
      const key = `${p.namespace}/${p.name}`;
      this.evictions.push({ key, at: performance.now() - this.#t0, dryRun: p.dryRun === "All" });
      this.inFlight++;
      this.peak = Math.max(this.peak, this.inFlight);
      await new Promise((r) => setTimeout(r, 2));
      this.inFlight--;
      if (!this.pods.has(key)) throw apiError({ code: 404 });
      const list = this.answers.get(key) ?? ["accept"];
      const answer = list.length > 1 ? list.shift() as Answer : list[0] as Answer;
      if (answer !== "accept") throw apiError(answer);
      if (p.dryRun !== "All") this.#terminate(key);
      return {};
    },
    readNamespacedPod: (p: { namespace: string; name: string }) => {
      const pod = this.pods.get(`${p.namespace}/${p.name}`);
      return pod ? Promise.resolve(pod) : Promise.reject(apiError({ code: 404 }));
    },
    deleteNamespacedPod: (p: { namespace: string; name: string; dryRun?: string }) => {
      const key = `${p.namespace}/${p.name}`;
      this.deletes.push(`${key}${p.dryRun === "All" ? " (dry run)" : ""}`);
      if (!this.pods.has(key)) return Promise.reject(apiError({ code: 404 }));
      if (p.dryRun !== "All") this.pods.delete(key); // finished pods go at once
      return Promise.resolve({});
    },
  };
  readonly policy = {
    listPodDisruptionBudgetForAllNamespaces: () =>
      Promise.resolve({
        items: [
          { metadata: { namespace: "ns", name: "pdb-a" }, spec: { selector: {} } },
          { metadata: { namespace: "ns", name: "pdb-b" }, spec: { selector: {} } },
        ],
        metadata: {},
      }),
  };

  kube(dryRun = false): Kube {
    // Only the calls above exist; the drain uses no others.
    return { core: this.core, policy: this.policy, dryRun } as unknown as Kube;
  }
}

function opts(over: Partial<DrainOptions> = {}): DrainOptions & { lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return {
    lines,
    log: new Logger({ format: "json", node: "n1", sink: (l) => lines.push(JSON.parse(l)) }),
    gracePeriodSeconds: -1,
    timeoutMs: 0,
    skipWaitForDeleteTimeoutSeconds: 0,
    podSelector: "",
    pollIntervalMs: 5,
    minRetryMs: 60,
    settleMs: 0,
    ...over,
  };
}

Deno.test("drain: evicts all pods with at most maxInFlight requests at once, deletes finished ones", async () => {
  const f = new FakeCluster();
  for (let i = 0; i < 30; i++) f.add(`p${i}`, { owner: "ReplicaSet" });
  f.add("ds", { owner: "DaemonSet" });
  f.add("done", { phase: "Succeeded" });
  const results: EvictionResult[] = [];
  const r = await drain(f.kube(), "n1", opts({ maxInFlight: 4, onEviction: (x) => results.push(x) }));
  assert.deepEqual(r.ok && [r.evicted, r.deleted], [30, 1]);
  assert.equal(f.peak, 4);
  assert.deepEqual([...f.pods.keys()], ["ns/ds"]);
  assert.deepEqual(f.deletes, ["ns/done"]);
  assert.equal(results.filter((x) => x === "evicted").length, 30);
  assert.equal(results.filter((x) => x === "deleted").length, 1);
});

Deno.test("drain: a 429 delays only that pod by at least the floor; Retry-After above it is honoured", async () => {
  const f = new FakeCluster();
  f.add("blocked", { owner: "ReplicaSet" });
  f.add("free", { owner: "ReplicaSet" });
  f.answers.set("ns/blocked", [TOO_MANY, { ...TOO_MANY, headers: { "retry-after": "0.2" } }, "accept"]);
  const results: EvictionResult[] = [];
  const r = await drain(f.kube(), "n1", opts({ onEviction: (x) => results.push(x) }));
  assert.equal(r.ok, true);
  const times = f.evictions.filter((e) => e.key === "ns/blocked").map((e) => e.at);
  assert.equal(times.length, 3);
  assert.ok((times[1] as number) - (times[0] as number) >= 55, `first retry after the 60 ms floor: ${times}`);
  assert.ok(
    (times[2] as number) - (times[1] as number) >= 195,
    `second retry after Retry-After 0.2 s: ${times}`,
  );
  // The free pod was evicted once, right away, not held up by the blocked one.
  assert.deepEqual(f.evictions.filter((e) => e.key === "ns/free").length, 1);
  assert.ok((f.evictions.find((e) => e.key === "ns/free")?.at ?? Infinity) < 50);
  assert.deepEqual(results.filter((x) => x === "retry-429").length, 2);
});

Deno.test("drain: a hard refusal fails the drain at once, naming the pod, and stops the other retries", async () => {
  const f = new FakeCluster();
  f.add("multi", { owner: "ReplicaSet" });
  f.add("waiting", { owner: "ReplicaSet" });
  f.answers.set("ns/waiting", [TOO_MANY]);
  f.answers.set("ns/multi", [{
    code: 500,
    body: {
      message:
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
    },
  }]);
  const results: EvictionResult[] = [];
  const t0 = performance.now();
  const r = await drain(f.kube(), "n1", opts({ minRetryMs: 10_000, onEviction: (x) => results.push(x) }));
  assert.ok(performance.now() - t0 < 1_000);
  assert.equal(r.ok, false);
  assert.match(
    !r.ok ? r.reason : "",
    /pod ns\/multi .*more than one PodDisruptionBudget \(ns\/pdb-a, ns\/pdb-b\)/,
  );
  assert.deepEqual(!r.ok && [...r.remaining].sort(), ["ns/multi", "ns/waiting"]);
  assert.ok(results.includes("failed"));
});

Deno.test("drain: other 403s fail; 403 NamespaceTerminating waits for a terminating pod", async () => {
  const f = new FakeCluster();
  f.add("forbidden", { owner: "ReplicaSet" });
  f.answers.set("ns/forbidden", [{
    code: 403,
    body: { reason: "Forbidden", message: "pdb disruptions allowed is negative" },
  }]);
  const r = await drain(f.kube(), "n1", opts());
  assert.match(
    !r.ok ? r.reason : "",
    /ns\/forbidden.*HTTP 403 Forbidden: pdb disruptions allowed is negative/,
  );

  const g = new FakeCluster();
  g.add("ns-dying", { owner: "ReplicaSet", terminatingSinceMs: 0 });
  g.answers.set("ns/ns-dying", [{
    code: 403,
    body: { details: { causes: [{ reason: "NamespaceTerminating" }] } },
  }]);
  const r2 = await drain(g.kube(), "n1", opts());
  assert.equal(r2.ok, true);
  assert.equal(
    g.evictions.length,
    1,
    "a pod already terminating with its namespace is waited for, not re-evicted",
  );
});

Deno.test("drain: a pod replaced under the same name (new UID) counts as gone; the new one is drained too", async () => {
  const f = new FakeCluster();
  f.add("sts-0", { owner: "StatefulSet" });
  f.linger = 1_000; // the old pod would linger forever...
  const o = opts();
  const p = drain(f.kube(), "n1", o);
  await new Promise((r) => setTimeout(r, 30));
  // ...but the StatefulSet controller replaced it: same name, new UID, not terminating, and (as a scheduler
  // that had not seen the cordon yet would) bound to this node again.
  f.linger = 1;
  f.pods.set("ns/sts-0", {
    metadata: { namespace: "ns", name: "sts-0", uid: "sts-0-uid-2" },
    spec: { nodeName: "n1", containers: [] },
    status: { phase: "Running" },
  });
  const r = await p;
  assert.deepEqual(r.ok && r.evicted, 2);
  assert.deepEqual([...f.pods.keys()], []);
  const late = o.lines.find((l) => l.msg === "draining pods bound to the node after the drain began");
  assert.deepEqual(late?.pods, ["ns/sts-0"]);
});

Deno.test("drain: it is over only when a list shows nothing left: a pod bound meanwhile is drained", async () => {
  const f = new FakeCluster();
  f.add("early", { owner: "ReplicaSet" });
  f.linger = 3;
  const o = opts();
  const p = drain(f.kube(), "n1", o);
  await new Promise((r) => setTimeout(r, 10));
  f.add("late", { owner: "ReplicaSet" });
  f.add("late-ds", { owner: "DaemonSet" });
  const r = await p;
  assert.deepEqual(r.ok && [r.evicted, r.deleted], [2, 0]);
  assert.deepEqual(f.evictions.map((e) => e.key).sort(), ["ns/early", "ns/late"]);
  assert.deepEqual([...f.pods.keys()], ["ns/late-ds"], "DaemonSet pods stay, as at the start");
});

Deno.test("drain: a clean list right after the cordon is not the end: a pod bound within the settle time is drained", async () => {
  const f = new FakeCluster();
  const p = drain(f.kube(), "n1", opts({ settleMs: 300, pollIntervalMs: 20 }));
  // The node was empty; a scheduler that had not seen the cordon binds a pod 100 ms in.
  await new Promise((r) => setTimeout(r, 100));
  f.add("late", { owner: "ReplicaSet" });
  const r = await p;
  assert.deepEqual(r.ok && r.evicted, 1);
  assert.deepEqual([...f.pods.keys()], []);
});

Deno.test("drain: an empty node is drained once the settle time has passed, not a poll interval later", async () => {
  const started = performance.now();
  const r = await drain(new FakeCluster().kube(), "n1", opts({ settleMs: 300, pollIntervalMs: 5_000 }));
  const took = performance.now() - started;
  assert.deepEqual(r.ok && r.evicted, 0);
  assert.ok(
    took >= 300 && took < 1_500,
    `the drain ended ${Math.round(took)} ms in (settle 300 ms, poll 5 s)`,
  );
});

Deno.test("drain: started from the pre-flight's pods, pods that go at once cost one list, at the settle point", async () => {
  const f = new FakeCluster();
  f.add("a", { owner: "ReplicaSet" });
  f.add("b", { owner: "ReplicaSet" });
  f.linger = 0;
  const pods = [...f.pods.values()];
  const started = performance.now();
  const r = await drain(f.kube(), "n1", opts({ pods, settleMs: 200, pollIntervalMs: 20 }));
  assert.deepEqual(r.ok && r.evicted, 2);
  assert.equal(f.lists, 1, "no list of its own, and no poll before the settle point");
  assert.ok(performance.now() - started >= 200);
  // Without the pre-flight's pods: its own list, then the one at the settle point.
  const g = new FakeCluster();
  g.add("a", { owner: "ReplicaSet" });
  g.linger = 0;
  assert.deepEqual((await drain(g.kube(), "n1", opts({ settleMs: 200, pollIntervalMs: 20 }))).ok, true);
  assert.equal(g.lists, 2);
});

Deno.test("drain: a pod bound after the pre-flight's list is drained too", async () => {
  const f = new FakeCluster();
  f.add("a", { owner: "ReplicaSet" });
  const pods = [...f.pods.values()];
  f.add("after-the-list", { owner: "ReplicaSet" });
  const r = await drain(f.kube(), "n1", opts({ pods, settleMs: 50 }));
  assert.deepEqual(r.ok && r.evicted, 2);
  assert.deepEqual(f.evictions.map((e) => e.key).sort(), ["ns/a", "ns/after-the-list"]);
});

Deno.test("drain: skip-wait stops waiting for a pod terminating longer than the limit", async () => {
  const f = new FakeCluster();
  f.add("stuck-old", { owner: "ReplicaSet", terminatingSinceMs: 120_000 });
  f.add("stuck-new", { owner: "ReplicaSet" });
  const p = drain(f.kube(), "n1", opts({ skipWaitForDeleteTimeoutSeconds: 60, timeoutMs: 300 }));
  const r = await p;
  // stuck-old is skipped up front; stuck-new never finishes terminating, so the timeout names only it.
  assert.equal(!r.ok && r.timedOut, true);
  assert.deepEqual(!r.ok && r.remaining, ["ns/stuck-new"]);
  assert.equal(f.evictions.filter((e) => e.key === "ns/stuck-old").length, 0);
});

Deno.test("drain: dry-run asks once per pod with dryRun=All, waits for nothing and logs would-evict/would-block", async () => {
  const f = new FakeCluster();
  f.add("a", { owner: "ReplicaSet" });
  f.add("b", { owner: "ReplicaSet" });
  f.add("done", { phase: "Failed" });
  f.answers.set("ns/b", [TOO_MANY]);
  const o = opts();
  const r = await drain(f.kube(true), "n1", o);
  assert.deepEqual(r.ok && [r.evicted, r.deleted], [1, 1]);
  assert.deepEqual(f.evictions.map((e) => [e.key, e.dryRun]).sort(), [["ns/a", true], ["ns/b", true]]);
  assert.deepEqual(f.deletes, ["ns/done (dry run)"]);
  assert.equal(f.pods.size, 3);
  const msgs = o.lines.map((l) => `${l.msg} ${l.pod ?? ""}`.trim());
  assert.ok(msgs.includes("dry run: would evict pod ns/a"));
  assert.ok(msgs.includes("dry run: eviction would block for now ns/b"));
  assert.ok(msgs.includes("dry run: would delete finished pod ns/done"));
});

Deno.test("drain: an already aborted signal ends at once without evicting", async () => {
  const f = new FakeCluster();
  f.add("a", { owner: "ReplicaSet" });
  const r = await drain(f.kube(), "n1", opts({ signal: AbortSignal.abort() }));
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.timedOut, false);
  assert.equal(f.evictions.length, 0);
});

const DENIED: Answer = {
  code: 400,
  body: {
    message: 'admission webhook "drain-cleaner.strimzi.io" denied the request: moving kafka-0 myself',
  },
};

Deno.test("drain: an admission denial is asked again with a growing backoff, and reported as the pod's blocker until it goes", async () => {
  const f = new FakeCluster();
  f.add("kafka-0", { owner: "StatefulSet" });
  f.answers.set("ns/kafka-0", [DENIED, DENIED, DENIED, "accept"]);
  const reports: string[][] = [];
  const r = await drain(
    f.kube(),
    "n1",
    opts({
      minRetryMs: 40,
      progressIntervalMs: 0,
      onBlocked: (b) => reports.push(b.map((x) => `${x.kind} ${x.pod}`)),
    }),
  );
  assert.equal(r.ok, true);
  const t = f.evictions.map((e) => e.at);
  assert.equal(t.length, 4);
  const gaps = t.slice(1).map((x, i) => x - (t[i] as number));
  // 40, 80, 160 ms: doubled with each denial of the same pod.
  assert.ok((gaps[0] as number) >= 35 && (gaps[1] as number) >= 75 && (gaps[2] as number) >= 155, `${gaps}`);
  assert.ok((gaps[2] as number) > (gaps[0] as number) * 2.5, `the backoff grows: ${gaps}`);
  assert.deepEqual(reports[0], ["admission ns/kafka-0"], "the first block is reported at once");
  assert.deepEqual(reports.at(-1), [], "and its end");
});

Deno.test("drain: --drain-disable-eviction-after deletes a pod still refused by its PDB, and says so", async () => {
  const f = new FakeCluster();
  f.add("db-0", { owner: "StatefulSet" });
  f.add("web", { owner: "ReplicaSet" });
  f.answers.set("ns/db-0", [TOO_MANY]);
  const deleted: [string, string][] = [];
  const results: EvictionResult[] = [];
  const t0 = performance.now();
  const r = await drain(
    f.kube(),
    "n1",
    opts({
      minRetryMs: 10_000,
      disableEvictionAfterMs: 150,
      onDeletedInstead: (pod, why) => deleted.push([pod, why]),
      onEviction: (x) => results.push(x),
    }),
  );
  const took = performance.now() - t0;
  assert.deepEqual(r.ok && [r.evicted, r.deleted], [1, 1], JSON.stringify(r));
  assert.ok(
    took >= 140 && took < 2_000,
    `deleted once 150 ms into the drain, not after the 10 s retry: ${took}`,
  );
  assert.deepEqual(f.deletes, ["ns/db-0"]);
  assert.equal(deleted.length, 1);
  assert.equal(deleted[0]?.[0], "ns/db-0");
  assert.match(deleted[0]?.[1] ?? "", /^pod ns\/db-0: a PodDisruptionBudget allows no disruption now$/);
  assert.deepEqual(results.filter((x) => x === "deleted").length, 1);

  // 0 = never: the same refusal keeps the pod until the drain timeout.
  const g = new FakeCluster();
  g.add("db-0", { owner: "StatefulSet" });
  g.answers.set("ns/db-0", [TOO_MANY]);
  const r2 = await drain(g.kube(), "n1", opts({ timeoutMs: 200, disableEvictionAfterMs: 0 }));
  assert.equal(!r2.ok && r2.timedOut, true);
  assert.deepEqual(g.deletes, []);
});
