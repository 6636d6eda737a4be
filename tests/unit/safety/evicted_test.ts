import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import {
  decodeEvicted,
  EMPTY_RECORD,
  encodeEvicted,
  type EvictedRecord,
  evictedRecordOf,
} from "../../../lib/safety/evicted.ts";

function pod(
  ns: string,
  name: string,
  owner?: { kind: string; name: string },
  labels: Record<string, string> = {},
): k8s.V1Pod {
  return {
    metadata: {
      namespace: ns,
      name,
      labels,
      ...(owner
        ? {
          ownerReferences: [{
            apiVersion: "apps/v1",
            kind: owner.kind,
            name: owner.name,
            uid: "u",
            controller: true,
          }],
        }
        : {}),
    },
  };
}

function pdb(ns: string, name: string, app: string): k8s.V1PodDisruptionBudget {
  return { metadata: { namespace: ns, name }, spec: { selector: { matchLabels: { app } } } };
}

Deno.test("evictedRecordOf: owning ReplicaSets/StatefulSets and covering PDBs, sorted and de-duplicated", () => {
  const pods = [
    pod("shop", "web-a", { kind: "ReplicaSet", name: "web-7d9f" }, { app: "web" }),
    pod("shop", "web-b", { kind: "ReplicaSet", name: "web-7d9f" }, { app: "web" }),
    pod("data", "db-0", { kind: "StatefulSet", name: "db" }, { app: "db" }),
    pod("batch", "job-x", { kind: "Job", name: "nightly" }, { app: "job" }),
    pod("misc", "bare", undefined, { app: "bare" }),
  ];
  const pdbs = [
    pdb("shop", "web", "web"),
    pdb("data", "db", "db"),
    pdb("other", "web", "web"),
    pdb("misc", "bare", "bare"),
  ];
  assert.deepEqual(evictedRecordOf(pods, pdbs), {
    workloads: [
      { kind: "ReplicaSet", namespace: "shop", name: "web-7d9f" },
      { kind: "StatefulSet", namespace: "data", name: "db" },
    ],
    pdbs: [
      { namespace: "data", name: "db" },
      { namespace: "misc", name: "bare" },
      { namespace: "shop", name: "web" },
    ],
    dropped: 0,
  });
});

const RECORD: EvictedRecord = {
  workloads: [
    { kind: "StatefulSet", namespace: "data", name: "db" },
    { kind: "ReplicaSet", namespace: "shop", name: "web-7d9f" },
  ],
  pdbs: [{ namespace: "shop", name: "web" }],
  dropped: 0,
};

Deno.test("encode/decode round-trips, compactly and deterministically", () => {
  const text = encodeEvicted(RECORD);
  assert.equal(
    text,
    '{"v":1,"workloads":["ReplicaSet/shop/web-7d9f","StatefulSet/data/db"],"pdbs":["shop/web"],"dropped":0}',
  );
  assert.equal(encodeEvicted({ ...RECORD, workloads: [...RECORD.workloads].reverse() }), text);
  const back = decodeEvicted(text);
  assert.deepEqual(back.problems, []);
  assert.deepEqual(back.record, { ...RECORD, workloads: [RECORD.workloads[1], RECORD.workloads[0]] });
  assert.deepEqual(decodeEvicted(undefined), { record: EMPTY_RECORD, problems: [] });
  assert.deepEqual(decodeEvicted(""), { record: EMPTY_RECORD, problems: [] });
});

Deno.test("encoding is bounded: refs that do not fit are counted as dropped", () => {
  const big: EvictedRecord = {
    workloads: Array.from(
      { length: 400 },
      (_, i) => ({ kind: "ReplicaSet" as const, namespace: "ns", name: `rs-${String(i).padStart(3, "0")}` }),
    ),
    pdbs: Array.from({ length: 100 }, (_, i) => ({ namespace: "ns", name: `pdb-${i}` })),
    dropped: 0,
  };
  const text = encodeEvicted(big, 2_000);
  assert.ok(text.length <= 2_000, `${text.length}`);
  const { record } = decodeEvicted(text);
  assert.equal(record.workloads.length + record.pdbs.length + record.dropped, 500);
  assert.ok(record.dropped > 0);
  assert.ok(record.workloads.length > 0 && record.pdbs.length > 0, "both kinds keep some room");
  assert.ok(encodeEvicted(big).length <= 8 * 1024);
});

Deno.test("hostile or broken annotations never throw and are reported", () => {
  const cases: [string, RegExp][] = [
    ["{not json", /not JSON/],
    ["[1,2]", /not an object/],
    ["null", /not an object/],
    ['{"v":2,"workloads":[]}', /version 2, expected 1/],
    ["x".repeat(70_000), /more than 65536/],
  ];
  for (const [raw, why] of cases) {
    const r = decodeEvicted(raw);
    assert.deepEqual(r.record, EMPTY_RECORD, raw.slice(0, 30));
    assert.equal(r.problems.length, 1);
    assert.match(r.problems[0] ?? "", why);
  }
  const mixed = decodeEvicted(JSON.stringify({
    v: 1,
    workloads: [
      "ReplicaSet/shop/web",
      "Deployment/shop/web",
      "ReplicaSet/Shop/web",
      "ReplicaSet/shop/web/extra",
      "StatefulSet/a.b/db",
      42,
      { kind: "ReplicaSet" },
      `ReplicaSet/ns/${"a".repeat(254)}`,
      "__proto__/x/y",
    ],
    pdbs: "shop/web",
    dropped: -5,
    __proto__: { polluted: true },
  }));
  assert.deepEqual(mixed.record, {
    workloads: [{ kind: "ReplicaSet", namespace: "shop", name: "web" }],
    pdbs: [],
    dropped: 8,
  });
  assert.match(mixed.problems[0] ?? "", /8 unreadable entries/);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
