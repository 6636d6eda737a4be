/**
 * `kreboot plan` and the groups of `kreboot status`, from a fleet as read (lib/cli/fleet.ts): the budget in
 * force per group, the slots in use, the fair queue's order, what blocks each node, the next window.
 */
import assert from "node:assert/strict";
import { type Group, groupKey, slotLeaseName } from "../../lib/budget/mod.ts";
import { type Fleet, fleetGroups, type FleetNode, type FleetOptions } from "../../lib/cli/fleet.ts";
import { formatPlan, planFleet } from "../../lib/cli/plan.ts";
import { formatStatus, type StatusReport } from "../../lib/cli/status.ts";
import { parseConfig } from "../../lib/config/mod.ts";
import type { BlockReason } from "../../lib/gates/gate.ts";

const ZONE = "topology.kubernetes.io/zone";
const zone = (value: string): Group => ({ kind: "value", value });
const MONDAY_9 = Date.parse("2026-03-02T09:00:00Z");

function flags(extra: string[]) {
  const { config } = parseConfig([`--group-label=${ZONE}`, "--concurrency=1", ...extra], {});
  const o: FleetOptions = {
    namespace: "kube-system",
    dsName: "kured",
    lockAnnotation: config.lockAnnotation,
    groupLabel: config.groupLabel,
    concurrency: config.concurrency,
    budgets: config.budgets,
    maxConcurrencyTotal: config.maxConcurrencyTotal,
  };
  return { config, o };
}

function node(
  name: string,
  group: Group,
  state?: { blockedBy?: BlockReason; since?: string; message?: string },
) {
  const n: FleetNode = { name, group, unschedulable: false };
  if (state) {
    n.condition = {
      status: "True",
      state: state.blockedBy ? "RebootBlocked" : "RebootRequired",
      message: state.message ?? "",
      ...(state.blockedBy ? { blockedBy: state.blockedBy } : {}),
      ...(state.since ? { since: new Date(state.since) } : {}),
    };
  }
  return n;
}

function held(group: Group, index: number, holder: string, phase = "draining") {
  const name = slotLeaseName("kured", group, ZONE, index);
  return {
    role: { role: "slot" as const, set: "group" as const, group, key: groupKey(group), index },
    record: { name, resourceVersion: "1", holder, transitions: 0, problems: [], phase },
    phase,
  };
}

function fleet(): Fleet {
  return {
    installed: true,
    pause: { paused: false },
    slots: [held(zone("a"), 0, "a1")],
    queue: [],
    nodes: [
      node("a1", zone("a"), { since: "2026-03-02T08:00:00Z" }),
      node("a2", zone("a"), {
        blockedBy: "lock",
        since: "2026-03-02T08:10:00Z",
        message: "all 1 slot(s) held",
      }),
      node("a3", zone("a"), { blockedBy: "lock", since: "2026-03-02T08:05:00Z" }),
      node("b1", zone("b"), {
        blockedBy: "pdb",
        since: "2026-03-02T07:00:00Z",
        message: "PDB work/db allows 0",
      }),
      node("b2", zone("b"), { blockedBy: "lock", since: "2026-03-02T08:30:00Z" }),
      {
        ...node("c1", zone("c"), { blockedBy: "lock", since: "2026-03-02T06:00:00Z" }),
        hold: { by: "ops", reason: "kernel test", since: "2026-03-01T00:00:00Z" },
      },
      node("c2", zone("c")),
    ],
  };
}

Deno.test("fleet groups: per group the budget in force, the slots in use and when a budget changes", () => {
  const { o } = flags(["--budget=nodes=0,group=b,schedule=0 8 * * mon-fri,duration=10h"]);
  const groups = fleetGroups(fleet(), o, MONDAY_9);
  assert.deepEqual(groups.map((g) => [g.group, g.nodes, g.inUse, g.allowed, g.by, g.budgetChanges ?? "-"]), [
    [`${ZONE}=a`, 3, 1, 1, "--concurrency=1", "-"],
    [
      `${ZONE}=b`,
      2,
      0,
      0,
      "--budget=nodes=0,group=b,schedule=0 8 * * mon-fri,duration=10h0m0s,tz=UTC",
      "2026-03-02T18:00:00.000Z",
    ],
    [`${ZONE}=c`, 2, 0, 1, "--concurrency=1", "-"],
  ]);
});

Deno.test("plan: the order the fair queue takes, what blocks each node, the next window", () => {
  const { config, o } = flags([
    "--budget=nodes=0,group=b,schedule=0 8 * * mon-fri,duration=10h",
    "--reboot-window=cron=0 22 * * *,duration=6h",
  ]);
  const r = planFleet(fleet(), o, config, MONDAY_9);
  const row = (n: string) => r.nodes.find((p) => p.node === n);
  assert.deepEqual(r.nodes.map((p) => p.node), ["a1", "a3", "a2", "b2", "b1", "c1"]);
  assert.deepEqual(row("a1"), {
    node: "a1",
    group: `${ZONE}=a`,
    state: "rebooting",
    requiredSince: "2026-03-02T08:00:00.000Z",
    slot: slotLeaseName("kured", zone("a"), ZONE, 0),
    phase: "draining",
  });
  assert.equal(row("a3")?.state, "in-line", "a's only slot is held");
  assert.deepEqual([row("a3")?.order, row("a3")?.position, row("a2")?.position], [1, 1, 2]);
  assert.equal(row("b2")?.state, "in-line", "b's budget allows 0 now");
  assert.deepEqual([row("b1")?.state, row("b1")?.blockedBy, row("b1")?.why], [
    "blocked",
    "pdb",
    "PDB work/db allows 0",
  ]);
  assert.deepEqual([row("c1")?.state, row("c1")?.blockedBy, row("c1")?.why], [
    "blocked",
    "hold",
    "held by ops: kernel test",
  ]);
  assert.equal(row("c2"), undefined, "c2 needs no reboot");
  assert.deepEqual(r.window, {
    open: false,
    opens: "2026-03-02T22:00:00.000Z",
    policy: "every day 00:00-23:59:59 UTC and any of [cron=0 22 * * *,duration=6h0m0s,tz=UTC]",
  });
  assert.deepEqual(r.groups.map((g) => [g.waiting, g.windowOpens]), [
    [2, "2026-03-02T22:00:00.000Z"],
    [1, "2026-03-02T22:00:00.000Z"],
    [0, "2026-03-02T22:00:00.000Z"],
  ]);
  const text = formatPlan(r);
  assert.match(text, /The reboot window is closed; it opens 2026-03-02T22:00:00.000Z/);
  assert.match(
    text,
    /^1\s+a3\s+topology.kubernetes.io\/zone=a\s+2026-03-02T08:05:00.000Z\s+in line, #1 of its group \(lock\)/m,
  );
  assert.match(text, /^-\s+c1\s+\S+\s+\S+\s+blocked by hold\s+held by ops: kernel test$/m);
});

Deno.test("plan: with a free slot the first in line is next; the total cap picks the longest waiting", () => {
  const { config, o } = flags(["--max-concurrency-total=1"]);
  const f = fleet();
  f.slots = [];
  const r = planFleet(f, o, config, MONDAY_9);
  const states = Object.fromEntries(r.nodes.map((p) => [p.node, p.state]));
  // a1 is just required (on its way into the line), c1 held, b1 blocked: of the heads a1 (08:00) and b2
  // (08:30), a1 goes; the cap leaves room for one.
  assert.deepEqual(states, {
    a1: "next",
    a2: "in-line",
    a3: "in-line",
    b1: "blocked",
    b2: "in-line",
    c1: "blocked",
  });
  assert.deepEqual(r.totalCap, { cap: 1, inUse: 0 });
  assert.equal(r.window.open, true);
});

Deno.test("status: the groups table, and a GROUP column only where there are groups", () => {
  const base: StatusReport = {
    namespace: "kube-system",
    dsName: "kured",
    paused: { paused: false },
    groups: [{ group: "all nodes", nodes: 3, allowed: 1, by: "--concurrency=1", inUse: 1 }],
    slots: [{ slot: "kured-slot-0", index: 0, holder: "n1", phase: "draining" }],
    holds: [],
    requests: [],
    failedReboots: [],
    nodes: [{
      node: "n2",
      rebootRequired: true,
      unschedulable: false,
      reason: "RebootBlocked",
      blockedBy: "budget",
    }],
    unknownNodes: [],
    installed: true,
  };
  const plain = formatStatus(base);
  assert.match(plain, /^GROUP\s+NODES\s+SLOTS USED\s+ALLOWED\s+SET BY\s+CHANGES AT$/m);
  assert.match(plain, /^all nodes\s+3\s+1\s+1\s+--concurrency=1\s+-$/m);
  assert.match(plain, /^kured-slot-0\s+n1\s+draining\s+-$/m);
  assert.match(plain, /^n2\s+RebootBlocked\s+budget\s/m);
  const grouped = formatStatus({
    ...base,
    totalCap: { cap: 2, inUse: 1 },
    slots: [{ ...base.slots[0]!, group: "zone=a" }],
    nodes: [{ ...base.nodes[0]!, group: "zone=b" }],
  });
  assert.match(grouped, /^kured-slot-0\s+zone=a\s+n1\s+draining/m);
  assert.match(grouped, /^n2\s+zone=b\s+RebootBlocked\s+budget/m);
  assert.match(grouped, /^All groups together: 1 of 2 \(--max-concurrency-total\)\.$/m);
});
