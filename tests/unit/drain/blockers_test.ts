import assert from "node:assert/strict";
import { ApiException, type V1PodDisruptionBudget } from "@kubernetes/client-node";
import { admissionDenier, classifyEvictionError } from "../../../lib/drain/answer.ts";
import {
  blockedPodCounts,
  classifyBlocker,
  describeBlocker,
  drainBlockedMessage,
  type DrainBlocker,
} from "../../../lib/drain/blockers.ts";
import type { Pod } from "../../../lib/drain/pods.ts";

/** A failed eviction as client-node raises it: the apiserver's Status as the body. */
function refusal(code: number, status: Record<string, unknown>): ApiException<string> {
  return new ApiException(code, "failed", JSON.stringify({ kind: "Status", code, ...status }), {});
}

const pod: Pod = {
  metadata: { namespace: "shop", name: "web-1", labels: { app: "web" } },
  status: { phase: "Running" },
};

function pdb(
  name: string,
  app: string,
  status: Record<string, number>,
  generation = 1,
): V1PodDisruptionBudget {
  return {
    metadata: { namespace: "shop", name, generation },
    spec: { selector: { matchLabels: { app } } },
    status: {
      observedGeneration: 1,
      disruptionsAllowed: 0,
      currentHealthy: 0,
      desiredHealthy: 0,
      expectedPods: 0,
      ...status,
    },
  };
}

// The eviction handler's answer for a PDB that allows nothing (pkg/registry/core/pod/storage/eviction.go).
const PDB_429 = refusal(429, {
  reason: "TooManyRequests",
  message: "Cannot evict pod as it would violate the pod's disruption budget.",
  details: {
    causes: [{
      reason: "DisruptionBudget",
      message: "The disruption budget web needs 2 healthy pods and has 2 currently",
    }],
  },
});
// A validating webhook that denies evictions on purpose (as the Strimzi drain cleaner does).
const WEBHOOK_403 = refusal(403, {
  reason: "Forbidden",
  message:
    'admission webhook "strimzi-drain-cleaner.strimzi.io" denied the request: The pod will be rolled by the Strimzi Cluster Operator',
});
const POLICY_422 = refusal(422, {
  reason: "Invalid",
  message:
    "pods \"web-1\" is forbidden: ValidatingAdmissionPolicy 'no-evictions' with binding 'no-evictions-shop' denied request: evictions are paused for the migration",
});

Deno.test("a PDB refusal names the covering PDB with its counts from the PDB object", () => {
  const pdbs = [
    pdb("web", "web", { disruptionsAllowed: 0, currentHealthy: 2, desiredHealthy: 2 }),
    pdb("db", "db", {}),
  ];
  const b = classifyBlocker(pod, PDB_429, pdbs);
  assert.deepEqual(b, {
    kind: "pdb",
    pod: "shop/web-1",
    pdbs: [{ name: "shop/web", allowed: 0, healthy: 2, desired: 2, stale: false }],
  });
  assert.equal(
    describeBlocker(b),
    "pod shop/web-1: PodDisruptionBudget shop/web allows 0 disruptions (2 healthy, 2 desired)",
  );
});

Deno.test("without the PDB object, the refusal's cause still names the PDB and its counts", () => {
  const b = classifyBlocker(pod, PDB_429, []);
  assert.deepEqual(b, {
    kind: "pdb",
    pod: "shop/web-1",
    pdbs: [{ name: "shop/web", allowed: 0, healthy: 2, desired: 2, stale: false }],
  });
  const stale = classifyBlocker(
    pod,
    refusal(429, {
      details: {
        causes: [{
          reason: "DisruptionBudget",
          message: "The disruption budget web is still being processed by the server.",
        }],
      },
    }),
    [],
  );
  assert.equal(
    describeBlocker(stale),
    "pod shop/web-1: PodDisruptionBudget shop/web has not caught up with its latest spec",
  );
});

Deno.test("a stale PDB and a pod under two PDBs are told apart", () => {
  const stale = classifyBlocker(pod, PDB_429, [
    pdb("web", "web", { currentHealthy: 3, desiredHealthy: 2 }, 2),
  ]);
  assert.match(
    describeBlocker(stale),
    /PodDisruptionBudget shop\/web has not caught up with its latest spec$/,
  );
  const two = classifyBlocker(
    pod,
    refusal(500, {
      message:
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
    }),
    [pdb("web", "web", {}), pdb("web-too", "web", {})],
  );
  assert.equal(
    describeBlocker(two),
    "pod shop/web-1 is covered by 2 PodDisruptionBudgets (shop/web, shop/web-too), which the eviction API refuses; merge them",
  );
});

Deno.test("an admission webhook's denial keeps the webhook's name and message", () => {
  const b = classifyBlocker(pod, WEBHOOK_403, []);
  assert.equal(b.kind, "admission");
  assert.equal(
    describeBlocker(b),
    'pod shop/web-1: eviction denied by admission webhook "strimzi-drain-cleaner.strimzi.io" (HTTP 403): The pod will be rolled by the Strimzi Cluster Operator',
  );
  assert.equal(
    describeBlocker(classifyBlocker(pod, POLICY_422, [])),
    'pod shop/web-1: eviction denied by ValidatingAdmissionPolicy "no-evictions" (HTTP 422): evictions are paused for the migration',
  );
});

Deno.test("a terminating namespace, and anything else, are reported as such", () => {
  const ns = refusal(403, {
    reason: "Forbidden",
    message:
      'pods "web-1" is forbidden: unable to create new content in namespace shop because it is being terminated',
    details: { causes: [{ reason: "NamespaceTerminating", message: "namespace shop is being terminated" }] },
  });
  assert.equal(
    describeBlocker(classifyBlocker(pod, ns, [])),
    "pod shop/web-1: namespace shop is terminating",
  );
  const other = classifyBlocker(
    pod,
    refusal(403, { reason: "Forbidden", message: "pdb disruptions allowed is negative" }),
    [],
  );
  assert.equal(
    describeBlocker(other),
    "pod shop/web-1: HTTP 403 Forbidden: pdb disruptions allowed is negative",
  );
  // A PDB's 429 in unknown wording is still a PDB, unnamed.
  const unnamed = classifyBlocker(
    pod,
    refusal(429, { details: { causes: [{ reason: "DisruptionBudget", message: "no." }] } }),
    [],
  );
  assert.equal(describeBlocker(unnamed), "pod shop/web-1: a PodDisruptionBudget allows no disruption now");
  // A 429 from API priority and fairness is not a PDB.
  assert.equal(
    classifyBlocker(pod, refusal(429, { message: "too many requests, please try again later" }), []).kind,
    "other",
  );
});

Deno.test("the drain retries an admission denial (kured#1269) but still fails on other refusals", () => {
  for (const e of [WEBHOOK_403, POLICY_422]) {
    const a = classifyEvictionError(e);
    assert.equal(a.kind, "retry");
    assert.equal(a.kind === "retry" && a.delayMs, 5_000);
    assert.match(a.kind === "retry" ? a.why : "", /denied/);
  }
  assert.equal(
    classifyEvictionError(refusal(403, { message: "pdb disruptions allowed is negative" })).kind,
    "fatal",
  );
  assert.equal(
    admissionDenier('admission webhook "a.b" denied the request without explanation'),
    'admission webhook "a.b"',
  );
  assert.equal(
    admissionDenier("ValidatingAdmissionPolicy 'p' denied request: x"),
    'ValidatingAdmissionPolicy "p"',
  );
  assert.equal(admissionDenier("forbidden: User cannot create pods/eviction"), undefined);
  assert.equal(admissionDenier(undefined), undefined);
});

Deno.test("the DrainBlocked message lists every pod with its cause, bounded in length", () => {
  const blockers: DrainBlocker[] = [
    classifyBlocker(pod, PDB_429, []),
    classifyBlocker({ metadata: { namespace: "kafka", name: "broker-0" } }, WEBHOOK_403, []),
  ];
  assert.equal(
    drainBlockedMessage(blockers),
    "drain blocked by 2 pods: pod shop/web-1: PodDisruptionBudget shop/web allows 0 disruptions (2 healthy, 2 desired); " +
      'pod kafka/broker-0: eviction denied by admission webhook "strimzi-drain-cleaner.strimzi.io" (HTTP 403): ' +
      "The pod will be rolled by the Strimzi Cluster Operator",
  );
  const many: DrainBlocker[] = Array.from(
    { length: 50 },
    (_, i) => ({ kind: "other", pod: `ns/p${i}`, message: "x".repeat(40) }),
  );
  const msg = drainBlockedMessage(many, 300);
  assert.ok(msg.length <= 300, `${msg.length}`);
  assert.match(msg, /^drain blocked by 50 pods: pod ns\/p0: x+; pod ns\/p1: .*; and \d+ more$/);
  const huge: DrainBlocker = { kind: "other", pod: "ns/p", message: "y".repeat(5_000) };
  const cut = drainBlockedMessage([huge, huge], 200);
  assert.ok(cut.length <= 200, `${cut.length}`);
  assert.match(cut, /^drain blocked by 2 pods: pod ns\/p: y+\.\.\.; and 1 more$/);
});

Deno.test("blocked pod counts cover every reason, zeros included", () => {
  assert.deepEqual(blockedPodCounts([]), { pdb: 0, admission: 0, "namespace-terminating": 0, other: 0 });
  assert.deepEqual(
    blockedPodCounts([
      classifyBlocker(pod, PDB_429, []),
      classifyBlocker(pod, PDB_429, []),
      classifyBlocker(pod, WEBHOOK_403, []),
    ]),
    { pdb: 2, admission: 1, "namespace-terminating": 0, other: 0 },
  );
});
