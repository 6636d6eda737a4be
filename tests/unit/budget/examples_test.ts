/** The three worked examples of README.md's "Groups, budgets and windows", checked with their exact flags. */
import assert from "node:assert/strict";
import { admit, allowedSlots, groupOf } from "../../../lib/budget/mod.ts";
import { parseConfig } from "../../../lib/config/mod.ts";

const ms = (iso: string) => Date.parse(iso);

Deno.test("README example 1: no reboots during office hours in Berlin", () => {
  const { config } = parseConfig([
    "--concurrency=2",
    "--budget=nodes=0,schedule=0 8 * * mon-fri,duration=10h,tz=Europe/Berlin",
  ], {});
  const policy = { concurrency: config.concurrency, budgets: config.budgets };
  const g = groupOf({}, config.groupLabel);
  const slots = (iso: string) => allowedSlots(policy, g, 10, ms(iso)).allowed;
  assert.equal(slots("2026-01-12T06:59:00Z"), 2, "Mon 07:59 CET");
  assert.equal(slots("2026-01-12T07:00:00Z"), 0, "Mon 08:00 CET");
  assert.equal(slots("2026-07-13T06:30:00Z"), 0, "Mon 08:30 CEST");
  assert.equal(slots("2026-07-13T16:00:00Z"), 2, "Mon 18:00 CEST");
  assert.equal(slots("2026-07-11T10:00:00Z"), 2, "Saturday");
  // A node already rebooting at 08:00 keeps its slot; nobody new starts.
  const a = admit({
    policy,
    groupLabel: "",
    group: g,
    groupNodes: 10,
    inUse: 1,
    total: { cap: 0, inUse: 1 },
    atMs: ms("2026-01-12T07:00:00Z"),
  });
  assert.equal(a.ok, false);
});

Deno.test("README example 2: one node per zone at a time, at most two zones at once", () => {
  const { config } = parseConfig([
    "--group-label=topology.kubernetes.io/zone",
    "--concurrency=1",
    "--max-concurrency-total=2",
  ], {});
  const policy = { concurrency: config.concurrency, budgets: config.budgets };
  const zone = (z: string) => groupOf({ "topology.kubernetes.io/zone": z }, config.groupLabel);
  const base = { policy, groupLabel: config.groupLabel, groupNodes: 4, atMs: 0 };
  const a = zone("eu-west-1a");
  assert.equal(admit({ ...base, group: a, inUse: 0, total: { cap: 2, inUse: 0 } }).ok, true);
  assert.equal(admit({ ...base, group: a, inUse: 1, total: { cap: 2, inUse: 1 } }).ok, false, "one per zone");
  assert.equal(admit({ ...base, group: zone("b"), inUse: 0, total: { cap: 2, inUse: 1 } }).ok, true);
  const third = admit({ ...base, group: zone("c"), inUse: 0, total: { cap: 2, inUse: 2 } });
  assert.ok(!third.ok);
  assert.equal(third.reason, "total");
  assert.deepEqual(groupOf({}, config.groupLabel), { kind: "unlabeled" }, "no zone label: its own group");
});

Deno.test("README example 3: 30% of the batch pool at night, one at a time by day", () => {
  const { config } = parseConfig([
    "--group-label=karpenter.sh/nodepool",
    "--concurrency=1",
    "--budget=nodes=30%,group=batch,schedule=0 22 * * *,duration=8h,tz=America/New_York",
    "--budget=nodes=0,group=batch,schedule=0 9 * * mon-fri,duration=8h,tz=America/New_York",
  ], {});
  const policy = { concurrency: config.concurrency, budgets: config.budgets };
  const pool = (p: string) => groupOf({ "karpenter.sh/nodepool": p }, config.groupLabel);
  const slots = (p: string, nodes: number, iso: string) =>
    allowedSlots(policy, pool(p), nodes, ms(iso)).allowed;
  // 2026-07-14 is a Tuesday; New York is UTC-4 (EDT).
  assert.equal(slots("batch", 10, "2026-07-15T03:00:00Z"), 3, "23:00: 30% of 10");
  assert.equal(slots("batch", 11, "2026-07-15T09:59:00Z"), 4, "05:59: 30% of 11 rounds up");
  assert.equal(slots("batch", 11, "2026-07-15T10:00:00Z"), 1, "06:00: --concurrency");
  assert.equal(slots("batch", 11, "2026-07-15T14:00:00Z"), 0, "10:00 on a weekday: stopped");
  assert.equal(slots("batch", 11, "2026-07-18T14:00:00Z"), 1, "10:00 on Saturday: --concurrency");
  assert.equal(slots("web", 11, "2026-07-15T03:00:00Z"), 1, "other pools never see the batch budgets");
  assert.equal(slots("web", 11, "2026-07-15T14:00:00Z"), 1);
});
