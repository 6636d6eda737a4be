/**
 * `kreboot status`: who holds the slots, which nodes need a reboot and why each one waits. Everything comes
 * from the API server (the slot Leases and each node's RebootRequired condition written by its daemon), so it
 * works from a laptop with nothing but a kubeconfig.
 */
import type { Kube } from "../kube/mod.ts";
import { describeApiError, isNotFound } from "../kube/mod.ts";
import {
  decodeDaemonSetPause,
  decodePauseLease,
  effectivePause,
  NOT_PAUSED,
  type PauseState,
} from "../lock/pause.ts";
import { decodeSlot, LOCK_LABEL, pauseLeaseName, slotIndex } from "../lock/slots.ts";
import type { BlockReason } from "../gates/gate.ts";
import { CONDITION_TYPE, decodeCondition, findCondition } from "../report/condition.ts";
import { breakerLeaseName, countedFailures, decodeFailures, FAILURES_ANNOTATION } from "../safety/breaker.ts";
import { type Hold, holdOf, type RebootRequest, rebootRequested, requestOf } from "../node_control/mod.ts";

/** Exit code of `kreboot status` when kreboot does not seem to be installed or running in the cluster. */
export const STATUS_NOT_FOUND_EXIT = 3;

export interface SlotStatus {
  slot: string;
  index: number;
  holder: string;
  phase?: string;
  since?: string;
  problems?: string[];
}

export interface NodeStatus {
  node: string;
  rebootRequired: boolean;
  /** The condition's reason, e.g. RebootBlocked or Rebooting. */
  reason?: string;
  /** Why it waits, as its daemon wrote it (window, alert names, pod, PDB, no slot, paused). */
  message?: string;
  /** What blocks it, when it is blocked: window, alert, query, pod, pdb, lock (no free slot), paused, sentinel-error. */
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

/** A reboot request on a node (`kreboot request-reboot`), as recorded on it. */
export interface RequestedNode extends Partial<RebootRequest> {
  node: string;
  /** pending: the node acts on it; satisfied: a reboot since answered it (kreboot removes it after its own
   * reboots); unreadable: the annotation cannot be decoded and requests nothing. */
  state: "pending" | "satisfied" | "unreadable";
  problem?: string;
}

export interface StatusReport {
  namespace: string;
  dsName: string;
  paused: PauseState;
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

export class StatusUnavailable extends Error {}

export async function collectStatus(
  kube: Kube,
  opts: { namespace: string; dsName: string; lockAnnotation: string; failureWindowMs?: number },
  nowMs = Date.now(),
): Promise<StatusReport> {
  let leases;
  try {
    leases = await kube.coord.listNamespacedLease({
      namespace: opts.namespace,
      labelSelector: `${LOCK_LABEL}=${opts.dsName}`,
    });
  } catch (e) {
    throw new StatusUnavailable(
      `cannot read kreboot's Leases in namespace ${opts.namespace}: ${describeApiError(e)}. ` +
        `Check the kubeconfig and that kreboot runs with --ds-namespace=${opts.namespace} --ds-name=${opts.dsName}.`,
    );
  }
  let leasePause: PauseState = NOT_PAUSED;
  let failedReboots: FailedRebootStatus[] = [];
  const slots: SlotStatus[] = [];
  for (const lease of leases.items) {
    const name = lease.metadata?.name ?? "";
    if (name === pauseLeaseName(opts.dsName)) {
      leasePause = decodePauseLease(lease);
      continue;
    }
    if (name === breakerLeaseName(opts.dsName)) {
      const { record } = decodeFailures(lease.metadata?.annotations?.[FAILURES_ANNOTATION]);
      const counted = countedFailures(record, { nowMs, windowMs: opts.failureWindowMs ?? 24 * 3_600_000 });
      failedReboots = counted.map((f) => ({
        node: f.node,
        at: new Date(f.atMs).toISOString(),
        kind: f.kind,
        why: f.why,
      }));
      continue;
    }
    const index = slotIndex(opts.dsName, name);
    if (index === undefined) continue;
    const rec = decodeSlot(lease);
    const s: SlotStatus = { slot: name, index, holder: rec.holder };
    if (rec.phase) s.phase = rec.phase;
    if (rec.acquireTime && rec.holder) s.since = rec.acquireTime.toISOString();
    if (rec.problems.length) s.problems = rec.problems;
    slots.push(s);
  }
  slots.sort((a, b) => a.index - b.index);
  let installed = false;
  let dsPause: PauseState = NOT_PAUSED;
  try {
    const ds = await kube.apps.readNamespacedDaemonSet({ name: opts.dsName, namespace: opts.namespace });
    installed = true;
    dsPause = decodeDaemonSetPause(ds, opts);
  } catch (e) {
    if (!isNotFound(e)) throw new StatusUnavailable(`cannot read DaemonSet: ${describeApiError(e)}`);
  }
  const paused = effectivePause(leasePause, dsPause);
  const held = new Map(slots.filter((s) => s.holder).map((s) => [s.holder, s.slot]));
  let nodeList;
  try {
    nodeList = await kube.core.listNode({});
  } catch (e) {
    throw new StatusUnavailable(`cannot list Nodes: ${describeApiError(e)}`);
  }
  const nodes: NodeStatus[] = [];
  const unknownNodes: string[] = [];
  const holds: HeldNode[] = [];
  const requests: RequestedNode[] = [];
  for (const node of nodeList.items) {
    const name = node.metadata?.name ?? "";
    const hold = holdOf(node);
    if (hold) holds.push({ node: name, ...hold });
    const request = requestedNode(name, node);
    if (request) requests.push(request);
    const found = findCondition(node);
    if (!found) {
      unknownNodes.push(name);
      continue;
    }
    const cond = decodeCondition(found);
    const n: NodeStatus = {
      node: name,
      rebootRequired: cond.status === "True",
      unschedulable: node.spec?.unschedulable === true,
    };
    if (cond.state) n.reason = cond.state;
    if (cond.message) n.message = cond.message;
    if (cond.blockedBy) n.blockedBy = cond.blockedBy;
    const slot = held.get(name);
    if (slot) n.slot = slot;
    if (cond.since) n.since = cond.since.toISOString();
    nodes.push(n);
  }
  nodes.sort((a, b) => a.node.localeCompare(b.node));
  holds.sort((a, b) => a.node.localeCompare(b.node));
  requests.sort((a, b) => a.node.localeCompare(b.node));
  return {
    namespace: opts.namespace,
    dsName: opts.dsName,
    paused,
    failedReboots,
    slots,
    nodes,
    unknownNodes,
    installed,
    holds,
    requests,
  };
}

function requestedNode(name: string, node: Parameters<typeof requestOf>[0]): RequestedNode | undefined {
  const r = requestOf(node);
  if (r === undefined) return undefined;
  if (r.problem !== undefined) return { node: name, state: "unreadable", problem: r.problem };
  return { node: name, ...r.value, state: rebootRequested(node) ? "pending" : "satisfied" };
}

/** Columns padded to their widest cell, like kubectl's tables. */
export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("   ")
  );
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
    lines.push(...table([
      ["SLOT", "HOLDER", "PHASE", "SINCE"],
      ...r.slots.map((s) => [s.slot, s.holder || "-", s.phase ?? "-", s.since ?? "-"]),
    ]));
  }
  lines.push("");
  const waiting = r.nodes.filter((n) => n.rebootRequired);
  if (waiting.length === 0) lines.push("No node needs a reboot.");
  else {
    lines.push(...table([
      ["NODE", "STATE", "BLOCKED BY", "SLOT", "REQUIRED SINCE", "WHY"],
      ...waiting.map((n) => [
        n.node,
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
