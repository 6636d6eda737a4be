/**
 * `kreboot status`: every group with the slots it may use (the budget in force) and uses, who holds the slots,
 * which nodes need a reboot and why each one waits. Everything comes from the API server (lib/cli/fleet.ts: the
 * lock's Leases and each node's RebootRequired condition written by its daemon), so it works from a laptop with
 * nothing but a kubeconfig.
 */
import type { Kube } from "../kube/mod.ts";
import type { PauseState } from "../lock/pause.ts";
import type { BlockReason } from "../gates/gate.ts";
import { CONDITION_TYPE } from "../report/condition.ts";
import type { Hold } from "../node_control/mod.ts";
import { describeGroup } from "../budget/mod.ts";
import { countedFailures, decodeFailures } from "../safety/breaker.ts";
import {
  fleetGroups,
  type FleetOptions,
  type GroupStatus,
  readFleet,
  type RequestedNode,
  slotsInUse,
} from "./fleet.ts";

export type { GroupStatus, RequestedNode } from "./fleet.ts";

/** Exit code of `kreboot status` when kreboot does not seem to be installed or running in the cluster. */
export const STATUS_NOT_FOUND_EXIT = 3;

export interface SlotStatus {
  slot: string;
  /** The slot's index in its group (or among the total-cap slots); -1 for a slot of another --group-label. */
  index: number;
  holder: string;
  /** The group whose slot it is (with --group-label); `total cap` for a --max-concurrency-total slot. */
  group?: string;
  phase?: string;
  since?: string;
  problems?: string[];
}

export interface NodeStatus {
  node: string;
  rebootRequired: boolean;
  /** The node's group (with --group-label). */
  group?: string;
  /** The condition's reason, e.g. RebootBlocked or Rebooting. */
  reason?: string;
  /** Why it waits, as its daemon wrote it (window, alert names, pod, PDB, no slot, budget, paused). */
  message?: string;
  /**
   * What blocks it, when it is blocked: window, alert, query, pod, pdb, lock (no free slot), budget, total-cap,
   * paused, sentinel-error.
   */
  blockedBy?: BlockReason;
  /** The slot this node holds, if any. */
  slot?: string;
  /** When the condition last changed status: since when a reboot is (or is no longer) required. */
  since?: string;
  unschedulable: boolean;
}

/** A failed reboot the circuit breaker counts now (lib/safety/breaker.ts). */
export interface FailedRebootStatus {
  node: string;
  at: string;
  kind: string;
  why: string;
}

/** A node an operator held (`kreboot hold`): it takes no slot until unheld. */
export interface HeldNode extends Hold {
  node: string;
}

export interface StatusReport {
  namespace: string;
  dsName: string;
  paused: PauseState;
  /** Every group with the slots it may use now (the budget in force) and uses. */
  groups: GroupStatus[];
  /** With --max-concurrency-total: the cap and the nodes holding a slot across all groups. */
  totalCap?: { cap: number; inUse: number };
  /** The failed reboots the circuit breaker counts now (within --failure-window, since the last resume). */
  failedReboots: FailedRebootStatus[];
  slots: SlotStatus[];
  nodes: NodeStatus[];
  /** Nodes whose daemon never wrote a condition (it writes one once the node needs a reboot). */
  unknownNodes: string[];
  /** Whether the DaemonSet `<namespace>/<dsName>` exists. */
  installed: boolean;
  /** Nodes held by an operator, whether they need a reboot or not. */
  holds: HeldNode[];
  /** Reboot requests on nodes. */
  requests: RequestedNode[];
}

/**
 * kreboot leaves traces only when it has something to say: the DaemonSet, slot Leases once a node took a slot,
 * the condition once a node needed a reboot. None of the three means it is not installed under this name.
 */
export function seemsAbsent(r: StatusReport): boolean {
  return !r.installed && r.slots.length === 0 && r.nodes.length === 0 && !r.paused.paused;
}

export async function collectStatus(kube: Kube, o: FleetOptions, now = Date.now()): Promise<StatusReport> {
  const fleet = await readFleet(kube, o);
  const slots: SlotStatus[] = fleet.slots.map(({ role, record: rec, phase }) => {
    const s: SlotStatus = {
      slot: rec.name,
      index: role.set === "foreign" ? -1 : role.index,
      holder: rec.holder,
    };
    if (role.set === "total") s.group = "total cap";
    else if (role.set === "group" && role.group.kind !== "all") {
      s.group = describeGroup(role.group, o.groupLabel);
    }
    if (phase) s.phase = phase;
    if (rec.acquireTime && rec.holder) s.since = rec.acquireTime.toISOString();
    if (rec.problems.length) s.problems = rec.problems;
    return s;
  });
  slots.sort((a, b) => (a.group ?? "").localeCompare(b.group ?? "") || a.index - b.index);
  const held = new Map(
    fleet.slots.filter((s) => s.record.holder && s.role.set !== "total").map((
      s,
    ) => [s.record.holder, s.record.name]),
  );
  const nodes: NodeStatus[] = [];
  const unknownNodes: string[] = [];
  const holds: HeldNode[] = [];
  const requests: RequestedNode[] = [];
  for (const node of fleet.nodes) {
    if (node.hold) holds.push({ node: node.name, ...node.hold });
    if (node.request) requests.push(node.request);
    const cond = node.condition;
    if (!cond) {
      unknownNodes.push(node.name);
      continue;
    }
    const n: NodeStatus = {
      node: node.name,
      rebootRequired: cond.status === "True",
      unschedulable: node.unschedulable,
    };
    if (o.groupLabel !== "") n.group = describeGroup(node.group, o.groupLabel);
    if (cond.state) n.reason = cond.state;
    if (cond.message) n.message = cond.message;
    if (cond.blockedBy) n.blockedBy = cond.blockedBy;
    const slot = held.get(node.name);
    if (slot) n.slot = slot;
    if (cond.since) n.since = cond.since.toISOString();
    nodes.push(n);
  }
  return {
    namespace: o.namespace,
    dsName: o.dsName,
    paused: fleet.pause,
    groups: fleetGroups(fleet, o, now),
    ...(o.maxConcurrencyTotal > 0
      ? { totalCap: { cap: o.maxConcurrencyTotal, inUse: slotsInUse(fleet).total } }
      : {}),
    failedReboots: failedReboots(fleet.breakerFailures, o, now),
    slots,
    nodes,
    unknownNodes,
    installed: fleet.installed,
    holds,
    requests,
  };
}

/** The failed reboots the circuit breaker counts at `now`, from its Lease's record (lib/safety/breaker.ts). */
function failedReboots(raw: string | undefined, o: FleetOptions, now: number): FailedRebootStatus[] {
  if (raw === undefined) return [];
  const { record } = decodeFailures(raw);
  return countedFailures(record, { nowMs: now, windowMs: o.failureWindowMs ?? 24 * 3_600_000 }).map((f) => ({
    node: f.node,
    at: new Date(f.atMs).toISOString(),
    kind: f.kind,
    why: f.why,
  }));
}

/** Columns padded to their widest cell, like kubectl's tables. */
export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("   ")
  );
}

/**
 * The groups as a table, with `extra` columns (header, cell per group) after the standard ones, and the total
 * cap's line when there is one.
 */
export function groupTable<G extends GroupStatus>(
  groups: readonly G[],
  totalCap: { cap: number; inUse: number } | undefined,
  extra: [string, (g: G) => string][] = [],
): string[] {
  const lines = table([
    ["GROUP", "NODES", "SLOTS USED", "ALLOWED", "SET BY", "CHANGES AT", ...extra.map(([h]) => h)],
    ...groups.map((g) => [
      g.group,
      String(g.nodes),
      String(g.inUse),
      String(g.allowed),
      g.by,
      g.budgetChanges ?? "-",
      ...extra.map(([, cell]) => cell(g)),
    ]),
  ]);
  if (totalCap) {
    lines.push(`All groups together: ${totalCap.inUse} of ${totalCap.cap} (--max-concurrency-total).`);
  }
  return lines;
}

/** A plain-text rendering for humans. */
export function formatStatus(r: StatusReport): string {
  const lines: string[] = [];
  if (seemsAbsent(r)) {
    return `kreboot does not seem to run here: no DaemonSet ${r.namespace}/${r.dsName}, no slot Leases, and no ` +
      `node has the ${CONDITION_TYPE} condition. Check --ds-namespace and --ds-name (kured's defaults are ` +
      `kube-system and kured) and the kubeconfig's context.`;
  }
  lines.push(
    r.paused.paused
      ? `Reboots PAUSED by ${r.paused.by}: ${r.paused.reason}${
        r.paused.since ? ` (since ${r.paused.since.toISOString()})` : ""
      }`
      : "Reboots are not paused.",
    "",
  );
  if (r.groups.length > 0) lines.push(...groupTable(r.groups, r.totalCap), "");
  if (r.failedReboots.length > 0) {
    lines.push(
      `Failed reboots the circuit breaker counts (${r.failedReboots.length}; kreboot resume resets it):`,
      ...table([
        ["NODE", "AT", "KIND", "WHY"],
        ...r.failedReboots.map((f) => [f.node, f.at, f.kind, f.why]),
      ]),
      "",
    );
  }
  if (r.slots.length === 0) lines.push("No slot Leases yet: no node has taken a slot.");
  else {
    // The GROUP column only where there are groups: without --group-label the table is as it always was.
    const grouped = r.slots.some((s) => s.group !== undefined);
    lines.push(...table([
      ["SLOT", ...(grouped ? ["GROUP"] : []), "HOLDER", "PHASE", "SINCE"],
      ...r.slots.map((s) => [
        s.slot,
        ...(grouped ? [s.group ?? "-"] : []),
        s.holder || "-",
        s.phase ?? "-",
        s.since ?? "-",
      ]),
    ]));
  }
  lines.push("");
  const waiting = r.nodes.filter((n) => n.rebootRequired);
  if (waiting.length === 0) lines.push("No node needs a reboot.");
  else {
    const grouped = waiting.some((n) => n.group !== undefined);
    lines.push(...table([
      ["NODE", ...(grouped ? ["GROUP"] : []), "STATE", "BLOCKED BY", "SLOT", "REQUIRED SINCE", "WHY"],
      ...waiting.map((n) => [
        n.node,
        ...(grouped ? [n.group ?? "-"] : []),
        n.reason ?? "-",
        n.blockedBy ?? "-",
        n.slot ?? "-",
        n.since ?? "-",
        n.message ?? "-",
      ]),
    ]));
  }
  if (r.holds.length > 0) {
    lines.push(
      "",
      ...table([
        ["HELD", "BY", "SINCE", "WHY"],
        ...r.holds.map((h) => [h.node, h.by, h.since || "-", h.reason]),
      ]),
    );
  }
  if (r.requests.length > 0) {
    lines.push(
      "",
      ...table([
        ["REBOOT REQUESTED", "BY", "SINCE", "STATE", "WHY"],
        ...r.requests.map((
          q,
        ) => [q.node, q.by ?? "-", q.since ?? "-", q.state, q.problem ?? q.reason ?? "-"]),
      ]),
    );
  }
  if (!r.installed) {
    lines.push("", `No DaemonSet ${r.namespace}/${r.dsName}: check --ds-namespace and --ds-name.`);
  }
  if (r.unknownNodes.length) {
    lines.push(
      "",
      `No kreboot status yet on: ${r.unknownNodes.join(", ")} (a node reports once it needs a reboot; ` +
        `if one does, is the DaemonSet running there?)`,
    );
  }
  return lines.join("\n");
}
