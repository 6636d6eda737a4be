import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { labelSelectorMatches } from "../../../lib/drain/selector.ts";
import { evictionRefusal, type Pdb, pdbsCovering } from "../../../lib/drain/pdb.ts";
import type { Pod } from "../../../lib/drain/pods.ts";

const L = { app: "web", tier: "front", env: "prod" };

const SELECTOR_TABLE: {
  name: string;
  sel: k8s.V1LabelSelector | undefined;
  labels?: Record<string, string>;
  want: boolean;
}[] = [
  { name: "nil selector selects nothing", sel: undefined, want: false },
  { name: "empty selector selects everything", sel: {}, want: true },
  { name: "empty selector selects an unlabelled pod", sel: {}, labels: {}, want: true },
  { name: "matchLabels subset", sel: { matchLabels: { app: "web" } }, want: true },
  { name: "matchLabels all", sel: { matchLabels: { app: "web", tier: "front", env: "prod" } }, want: true },
  { name: "matchLabels wrong value", sel: { matchLabels: { app: "db" } }, want: false },
  { name: "matchLabels missing key", sel: { matchLabels: { team: "a" } }, want: false },
  { name: "matchLabels empty value vs missing", sel: { matchLabels: { team: "" } }, want: false },
  {
    name: "matchLabels empty value present",
    sel: { matchLabels: { team: "" } },
    labels: { team: "" },
    want: true,
  },
  {
    name: "In hit",
    sel: { matchExpressions: [{ key: "env", operator: "In", values: ["dev", "prod"] }] },
    want: true,
  },
  {
    name: "In miss",
    sel: { matchExpressions: [{ key: "env", operator: "In", values: ["dev"] }] },
    want: false,
  },
  {
    name: "In absent key",
    sel: { matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] },
    want: false,
  },
  {
    name: "NotIn hit",
    sel: { matchExpressions: [{ key: "env", operator: "NotIn", values: ["prod"] }] },
    want: false,
  },
  {
    name: "NotIn miss",
    sel: { matchExpressions: [{ key: "env", operator: "NotIn", values: ["dev"] }] },
    want: true,
  },
  {
    name: "NotIn absent key matches",
    sel: { matchExpressions: [{ key: "zone", operator: "NotIn", values: ["a"] }] },
    want: true,
  },
  { name: "Exists", sel: { matchExpressions: [{ key: "tier", operator: "Exists" }] }, want: true },
  { name: "Exists absent", sel: { matchExpressions: [{ key: "zone", operator: "Exists" }] }, want: false },
  {
    name: "DoesNotExist",
    sel: { matchExpressions: [{ key: "zone", operator: "DoesNotExist" }] },
    want: true,
  },
  {
    name: "DoesNotExist present",
    sel: { matchExpressions: [{ key: "app", operator: "DoesNotExist" }] },
    want: false,
  },
  {
    name: "matchLabels AND expressions both hold",
    sel: {
      matchLabels: { app: "web" },
      matchExpressions: [{ key: "env", operator: "In", values: ["prod"] }],
    },
    want: true,
  },
  {
    name: "matchLabels AND expressions, one fails",
    sel: { matchLabels: { app: "web" }, matchExpressions: [{ key: "env", operator: "In", values: ["dev"] }] },
    want: false,
  },
  {
    name: "unknown operator errs towards covered",
    sel: { matchExpressions: [{ key: "app", operator: "Gt", values: ["1"] }] },
    want: true,
  },
];

for (const row of SELECTOR_TABLE) {
  Deno.test(`labelSelectorMatches: ${row.name}`, () => {
    assert.equal(labelSelectorMatches(row.sel, row.labels ?? L), row.want);
  });
}

function pod(
  labels: Record<string, string>,
  opts: { ns?: string; phase?: string; ready?: boolean; terminating?: boolean } = {},
): Pod {
  return {
    metadata: {
      namespace: opts.ns ?? "a",
      name: "p",
      labels,
      ...(opts.terminating ? { deletionTimestamp: new Date() } : {}),
    },
    status: {
      phase: opts.phase ?? "Running",
      conditions: [{ type: "Ready", status: opts.ready === false ? "False" : "True" }],
    },
  };
}

function pdb(
  name: string,
  matchLabels: Record<string, string>,
  status: Partial<k8s.V1PodDisruptionBudgetStatus> & { generation?: number } = {},
  ns = "a",
  extra: Partial<k8s.V1PodDisruptionBudgetSpec> = {},
): Pdb {
  const { generation = 1, ...st } = status;
  return {
    metadata: { namespace: ns, name, generation },
    spec: { selector: { matchLabels }, ...extra },
    status: {
      observedGeneration: 1,
      disruptionsAllowed: 1,
      currentHealthy: 2,
      desiredHealthy: 1,
      expectedPods: 2,
      ...st,
    },
  };
}

Deno.test("pdbsCovering: only PDBs of the pod's namespace whose selector matches", () => {
  const pdbs = [
    pdb("same-ns", { app: "web" }),
    pdb("other-ns", { app: "web" }, {}, "b"),
    pdb("other-app", { app: "db" }),
    { metadata: { namespace: "a", name: "no-selector" }, spec: {} },
  ];
  assert.deepEqual(pdbsCovering(pod({ app: "web" }), pdbs).map((p) => p.metadata?.name), ["same-ns"]);
});

Deno.test("evictionRefusal: a budget allowing 1 lets the pod go", () => {
  assert.equal(evictionRefusal(pod({ app: "web" }), [pdb("web", { app: "web" })]), undefined);
});

Deno.test("evictionRefusal: no PDB lets the pod go", () => {
  assert.equal(evictionRefusal(pod({ app: "web" }), []), undefined);
});

Deno.test("evictionRefusal: 0 allowed blocks and names the PDB with its counts", () => {
  const why = evictionRefusal(pod({ app: "web" }), [
    pdb("web", { app: "web" }, { disruptionsAllowed: 0, currentHealthy: 2, desiredHealthy: 2 }),
  ]);
  assert.equal(
    why,
    "is covered by PodDisruptionBudget a/web, which allows 0 disruptions now (2 healthy, 2 needed)",
  );
});

Deno.test("evictionRefusal: a status lagging its generation blocks", () => {
  const why = evictionRefusal(pod({ app: "web" }), [
    pdb("web", { app: "web" }, { generation: 3, observedGeneration: 2 }),
  ]);
  assert.match(why ?? "", /a\/web.*observedGeneration 2 < generation 3/);
});

Deno.test("evictionRefusal: two PDBs block even when both allow disruptions, naming both", () => {
  const why = evictionRefusal(pod({ app: "web" }), [
    pdb("one", { app: "web" }),
    pdb("two", { tier: "front" }),
  ]);
  assert.match(why ?? "", /2 PodDisruptionBudgets \(a\/one, a\/two\)/);
});

Deno.test("evictionRefusal: pods the server evicts without a PDB check are never refused", () => {
  const zero = [pdb("web", { app: "web" }, { disruptionsAllowed: 0 })];
  assert.equal(evictionRefusal(pod({ app: "web" }, { phase: "Pending" }), zero), undefined);
  assert.equal(evictionRefusal(pod({ app: "web" }, { terminating: true }), zero), undefined);
});

Deno.test("evictionRefusal: an unready pod goes while the budget is met, not when it is not", () => {
  const met = [pdb("web", { app: "web" }, { disruptionsAllowed: 0, currentHealthy: 2, desiredHealthy: 2 })];
  assert.equal(evictionRefusal(pod({ app: "web" }, { ready: false }), met), undefined);
  const short = [pdb("web", { app: "web" }, { disruptionsAllowed: 0, currentHealthy: 1, desiredHealthy: 2 })];
  assert.match(evictionRefusal(pod({ app: "web" }, { ready: false }), short) ?? "", /allows 0/);
  const always = [
    pdb("web", { app: "web" }, { disruptionsAllowed: 0, currentHealthy: 1, desiredHealthy: 2 }, "a", {
      unhealthyPodEvictionPolicy: "AlwaysAllow",
    }),
  ];
  assert.equal(evictionRefusal(pod({ app: "web" }, { ready: false }), always), undefined);
  // A ready pod is held by the budget whatever the policy.
  assert.match(evictionRefusal(pod({ app: "web" }), always) ?? "", /allows 0/);
});
