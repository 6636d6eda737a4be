import assert from "node:assert/strict";
import {
  ALL,
  decodeLeaseGroup,
  describeGroup,
  type Group,
  GROUP_NAME_OVERHEAD,
  groupFragment,
  groupKey,
  groupLeaseMetadata,
  groupOf,
  groupSlotIndex,
  slotLeaseName,
} from "../../../lib/budget/mod.ts";
import { slotName } from "../../../lib/lock/slots.ts";
import { seededRandom } from "../../harness/chaos.ts";

const ZONE = "topology.kubernetes.io/zone";
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

Deno.test("without --group-label every node is in one group with today's Lease names", () => {
  assert.deepEqual(groupOf({ [ZONE]: "a" }, ""), ALL);
  assert.deepEqual(groupOf(undefined, ""), ALL);
  for (const i of [0, 1, 7, 99999]) assert.equal(slotLeaseName("kured", ALL, "", i), slotName("kured", i));
  assert.equal(groupFragment(ALL, ""), undefined);
  assert.deepEqual(groupLeaseMetadata(ALL, ""), { labels: {}, annotations: {} });
  assert.equal(groupSlotIndex("kured", ALL, "", "kured-slot-3"), 3);
});

Deno.test("nodes with different values are different groups; no label or an empty value is its own group", () => {
  assert.deepEqual(groupOf({ [ZONE]: "eu-west-1a" }, ZONE), { kind: "value", value: "eu-west-1a" });
  assert.deepEqual(groupOf({ other: "x" }, ZONE), { kind: "unlabeled" });
  assert.deepEqual(groupOf({ [ZONE]: "" }, ZONE), { kind: "unlabeled" });
  assert.deepEqual(groupOf(undefined, ZONE), { kind: "unlabeled" });
  assert.equal(groupKey({ kind: "value", value: "a" }), "=a");
  assert.notEqual(groupKey({ kind: "unlabeled" }), groupKey({ kind: "value", value: "(no label)" }));
  assert.equal(describeGroup({ kind: "value", value: "a" }, ZONE), `${ZONE}=a`);
  assert.equal(describeGroup({ kind: "unlabeled" }, ZONE), `nodes without ${ZONE}`);
});

Deno.test("the fragment codec: readable prefix plus hash, a DNS label, distinct per key and value", () => {
  const a = groupFragment({ kind: "value", value: "eu-west-1a" }, ZONE);
  assert.match(a ?? "", /^eu-west-1a-[0-9a-f]{10}$/);
  assert.equal(groupFragment({ kind: "value", value: "eu-west-1a" }, ZONE), a, "stable");
  assert.notEqual(groupFragment({ kind: "value", value: "EU-West-1a" }, ZONE), a, "case matters");
  assert.notEqual(groupFragment({ kind: "value", value: "eu-west-1a" }, "pool"), a, "the key matters");
  assert.match(groupFragment({ kind: "value", value: "___" }, ZONE) ?? "", /^[0-9a-f]{10}$/);
  assert.match(groupFragment({ kind: "unlabeled" }, ZONE) ?? "", /^nolabel-[0-9a-f]{10}$/);
  assert.equal(
    slotLeaseName("kured", { kind: "value", value: "eu-west-1a" }, ZONE, 2),
    `kured-g-${a}-slot-2`,
  );
});

Deno.test("any label value, even hostile ones, gives valid, distinct Lease names that decode back", () => {
  const rnd = seededRandom(15);
  const alphabet = "aZ09-_.ü日🚀 /\u0000\n";
  const values = new Set<string>(["a", "A", "a.", "a-", "-a", "x".repeat(63), "Ä".repeat(500), "--", "0"]);
  while (values.size < 2_000) {
    const n = 1 + Math.floor(rnd() * 70);
    values.add(Array.from({ length: n }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join(""));
  }
  const dsName = "d".repeat(253 - GROUP_NAME_OVERHEAD);
  const names = new Set<string>();
  const groups: Group[] = [
    { kind: "unlabeled" },
    ...[...values].map((value): Group => ({ kind: "value", value })),
  ];
  for (const g of groups) {
    const fragment = groupFragment(g, ZONE) ?? "";
    assert.ok(fragment.length <= 31 && DNS_LABEL.test(fragment), `fragment ${fragment}`);
    const name = slotLeaseName(dsName, g, ZONE, 99999);
    assert.ok(name.length <= 253 && DNS_SUBDOMAIN.test(name), `lease name ${name}`);
    assert.equal(groupSlotIndex(dsName, g, ZONE, name), 99999);
    names.add(name);
    const meta = groupLeaseMetadata(g, ZONE);
    assert.deepEqual(decodeLeaseGroup(meta.labels, meta.annotations, ZONE), { group: g, foreign: false });
  }
  assert.equal(names.size, groups.length, "no two groups share a Lease name");
});

Deno.test("a Lease written for another --group-label, or none, is foreign: counted, never reused", () => {
  const g: Group = { kind: "value", value: "a" };
  const meta = groupLeaseMetadata(g, ZONE);
  assert.deepEqual(decodeLeaseGroup(meta.labels, meta.annotations, "pool"), { group: g, foreign: true });
  assert.deepEqual(
    decodeLeaseGroup({}, {}, ZONE),
    { group: ALL, foreign: true },
    "today's Lease, groups now",
  );
  assert.deepEqual(decodeLeaseGroup(meta.labels, meta.annotations, ""), { group: g, foreign: true });
  assert.deepEqual(decodeLeaseGroup({}, {}, ""), { group: ALL, foreign: false });
  const tampered = { ...meta.annotations, "kreboot.dev/group-value": "b" };
  assert.equal(decodeLeaseGroup(meta.labels, tampered, ZONE).foreign, true, "value and fragment disagree");
  // Another group's Lease is not one of ours.
  const other = slotLeaseName("kured", { kind: "value", value: "b" }, ZONE, 0);
  assert.equal(groupSlotIndex("kured", g, ZONE, other), undefined);
  assert.equal(groupSlotIndex("kured", ALL, "", other), undefined, "nor one of today's names");
});
