/**
 * `kreboot plan`: what would happen next, from the live cluster, with the caller's credentials, changing
 * nothing. Which nodes need a reboot (the RebootRequired condition their daemons write), in which order they
 * would go (the fair queue, lib/queue: longest required first, per group as many as the group has free
 * slots), per group the budget in force and the slots in use, what blocks each node (a gate, a budget, the
 * window, a hold), and when the reboot window next opens.
 */
import type { Config } from "../config/mod.ts";
import { type BlockReason } from "../gates/gate.ts";
import { describeGroup, groupKey } from "../budget/mod.ts";
import type { PauseState } from "../lock/pause.ts";
import { linePositions, nextToGo, queueOrder, type Room, type Waiter } from "../queue/mod.ts";
import { describePolicy, mayStart, nextStart, type WindowPolicy, windowPolicy } from "../gates/window/mod.ts";
import { type Fleet, fleetGroups, type FleetOptions, type GroupStatus, slotsInUse } from "./fleet.ts";
import { groupTable, table } from "./status.ts";

/** Where a node that needs a reboot stands. */
export type PlanState =
  /** It holds a slot: its reboot is under way. */
  | "rebooting"
  /** It would take the next free slot of its group. */
  | "next"
  /** It waits in line for a slot (behind others, a budget, the cap, or the pause). */
  | "in-line"
  /** A gate of its own holds it back (window, alerts, pods, PDBs, a hold): it is not in line. */
  | "blocked";

export interface PlanNode {
  node: string;
  group: string;
  state: PlanState;
  /** Since when its reboot is required (its place in line), ISO. */
  requiredSince?: string;
  /** 1-based place among all nodes in line, in the order the fair queue takes them. */
  order?: number;
  /** 1-based place in its group's line. */
  position?: number;
  /** The slot it holds, and its phase. */
  slot?: string;
  phase?: string;
  /** What holds it back: a block reason of its daemon, or `hold`. */
  blockedBy?: BlockReason | "hold";
  why?: string;
  /** Its RebootRequired condition's reason, when it is neither in line nor blocked (e.g. DrainFailed). */
  condition?: string;
}

export interface PlanGroup extends GroupStatus {
  /** Nodes of the group in line. */
  waiting: number;
  /** When a reboot may next start in the group ("now" when the window is open), ISO; absent: not within a year. */
  windowOpens?: string;
}

export interface PlanReport {
  at: string;
  paused: PauseState;
  window: { open: boolean; opens?: string; policy: string };
  groups: PlanGroup[];
  totalCap?: { cap: number; inUse: number };
  nodes: PlanNode[];
}

/** Block reasons that leave a node in line: it waits for the lock, not for a gate of its own. */
const IN_LINE: ReadonlySet<string> = new Set(["lock", "budget", "total-cap", "paused"]);

export function planFleet(fleet: Fleet, o: FleetOptions, config: Config, now: number): PlanReport {
  const policy: WindowPolicy = windowPolicy(config);
  const open = mayStart(policy, now);
  const opens = open ? now : nextStart(policy, now);
  const groups = fleetGroups(fleet, o, now);
  const used = slotsInUse(fleet);
  const holding = new Map(
    fleet.slots.filter((s) => s.record.holder !== "" && s.role.set !== "total").map((
      s,
    ) => [s.record.holder, s]),
  );
  const entries = new Map(fleet.queue.filter((e) => !e.passedOverBy).map((e) => [e.node, e]));
  const nodes: PlanNode[] = [];
  const waiters: Waiter[] = [];
  for (const n of fleet.nodes) {
    const c = n.condition;
    const slot = holding.get(n.name);
    if (c?.status !== "True" && !slot) continue;
    const p: PlanNode = { node: n.name, group: describeGroup(n.group, o.groupLabel), state: "blocked" };
    const since = entries.get(n.name)?.requiredSinceMs ?? c?.since?.getTime();
    if (since !== undefined) p.requiredSince = new Date(since).toISOString();
    if (slot) {
      p.state = "rebooting";
      p.slot = slot.record.name;
      if (slot.phase) p.phase = slot.phase;
    } else if (n.hold) {
      p.blockedBy = "hold";
      p.why = `held by ${n.hold.by}: ${n.hold.reason}`;
    } else {
      if (c?.blockedBy) p.blockedBy = c.blockedBy;
      else if (c?.state && c.state !== "RebootRequired") p.condition = c.state;
      if (c?.message) p.why = c.message;
      // Just required (its gates are being checked) or waiting for the lock: on its way into the line.
      const heading = c?.state === "RebootRequired" ||
        (c?.blockedBy !== undefined && IN_LINE.has(c.blockedBy));
      if (entries.has(n.name) || heading) {
        p.state = "in-line";
        waiters.push({ node: n.name, group: groupKey(n.group), requiredSinceMs: since ?? now });
      }
    }
    nodes.push(p);
  }
  const rooms = new Map<string, Room>();
  const byDescription = new Map(groups.map((g) => [g.group, g]));
  for (const n of fleet.nodes) {
    const g = byDescription.get(describeGroup(n.group, o.groupLabel));
    if (g) rooms.set(groupKey(n.group), { allowed: g.allowed, inUse: g.inUse });
  }
  const next = fleet.pause.paused
    ? new Set<string>()
    : new Set(nextToGo(waiters, rooms, { cap: o.maxConcurrencyTotal, inUse: used.total }).map((w) => w.node));
  const order = new Map(queueOrder(waiters).map((w, i) => [w.node, i + 1]));
  const positions = linePositions(waiters);
  for (const p of nodes) {
    if (p.state !== "in-line") continue;
    if (next.has(p.node)) p.state = "next";
    p.order = order.get(p.node)!;
    p.position = positions.get(p.node)!;
  }
  const rank = (p: PlanNode) => p.state === "rebooting" ? 0 : p.order !== undefined ? p.order : Infinity;
  nodes.sort((a, b) => rank(a) - rank(b) || a.node.localeCompare(b.node));
  return {
    at: new Date(now).toISOString(),
    paused: fleet.pause,
    window: {
      open,
      ...(opens === undefined ? {} : { opens: new Date(opens).toISOString() }),
      policy: describePolicy(policy),
    },
    groups: groups.map((g) => ({
      ...g,
      waiting:
        nodes.filter((p) => p.group === g.group && (p.state === "in-line" || p.state === "next")).length,
      ...(opens === undefined ? {} : { windowOpens: open ? "now" : new Date(opens).toISOString() }),
    })),
    ...(o.maxConcurrencyTotal > 0 ? { totalCap: { cap: o.maxConcurrencyTotal, inUse: used.total } } : {}),
    nodes,
  };
}

/** A plain-text rendering for humans. */
export function formatPlan(r: PlanReport): string {
  const lines = [
    `Plan at ${r.at} (read from the cluster; nothing was changed).`,
    r.paused.paused ? `Reboots PAUSED by ${r.paused.by}: ${r.paused.reason}.` : "Reboots are not paused.",
    r.window.open
      ? `The reboot window is open (${r.window.policy}).`
      : `The reboot window is closed; it opens ${
        r.window.opens ?? "not within a year"
      } (${r.window.policy}).`,
    "",
    ...groupTable(r.groups, r.totalCap, [["WAITING", (g) => String(g.waiting)]]),
    "",
  ];
  if (r.nodes.length === 0) {
    lines.push("No node needs a reboot.");
    return lines.join("\n");
  }
  lines.push(...table([
    ["ORDER", "NODE", "GROUP", "REQUIRED SINCE", "STATE", "WHY"],
    ...r.nodes.map((p) => [
      p.order === undefined ? "-" : String(p.order),
      p.node,
      p.group,
      p.requiredSince ?? "-",
      p.state === "rebooting"
        ? `rebooting (${p.slot}${p.phase ? `, ${p.phase}` : ""})`
        : p.state === "blocked"
        ? (p.blockedBy ? `blocked by ${p.blockedBy}` : `waiting (${p.condition ?? "?"})`)
        : p.state === "next"
        ? "next"
        : `in line, #${p.position} of its group${p.blockedBy ? ` (${p.blockedBy})` : ""}`,
      p.why ?? "-",
    ]),
  ]));
  return lines.join("\n");
}
