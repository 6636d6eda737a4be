/**
 * The fleet as the operator commands (`kreboot status`, `kreboot plan`) see it: one read of the lock's Leases,
 * the DaemonSet and the Nodes with the caller's credentials, changing nothing, and the pure judgements both
 * commands share — every group with its allowance (the budget in force), its slots in use and its queue.
 * What a node's daemon thinks of its own reboot comes from the RebootRequired condition it writes
 * (lib/report/condition.ts), a hold from its annotation (lib/node_control).
 */
import type * as k8s from "@kubernetes/client-node";
import {
  allowedSlots,
  type Budget,
  describeGroup,
  type Group,
  groupKey,
  groupOf,
  nextBudgetChange,
} from "../budget/mod.ts";
import type { Concurrency } from "../config/mod.ts";
import type { Kube } from "../kube/mod.ts";
import { describeApiError, isNotFound } from "../kube/mod.ts";
import { LockLayout, type SlotRole } from "../lock/groups.ts";
import {
  decodeDaemonSetPause,
  decodePauseLease,
  effectivePause,
  NOT_PAUSED,
  type PauseState,
} from "../lock/pause.ts";
import { decodeQueueEntry, type QueueEntry } from "../lock/queue_entry.ts";
import { decodeSlot, LOCK_LABEL, type SlotRecord } from "../lock/slots.ts";
import { type Hold, holdOf, type RebootRequest, rebootRequested, requestOf } from "../node_control/mod.ts";
import type { ReportReason } from "../machine/mod.ts";
import { decodeCondition, findCondition, type RebootCondition } from "../report/condition.ts";
import { breakerLeaseName, FAILURES_ANNOTATION } from "../safety/breaker.ts";

export interface FleetOptions {
  namespace: string;
  dsName: string;
  lockAnnotation: string;
  groupLabel: string;
  concurrency: Concurrency;
  budgets: readonly Budget[];
  maxConcurrencyTotal: number;
  /** `--failure-window` (ms): which of the circuit breaker's failures count (default 24 h). */
  failureWindowMs?: number;
}

export interface FleetSlot {
  role: SlotRole;
  record: SlotRecord;
  /** Where its holder stands (`holderPhase`): what the Lease records, brought forward by the holder's condition. */
  phase?: string;
}

export interface FleetNode {
  name: string;
  group: Group;
  unschedulable: boolean;
  /** The RebootRequired condition its daemon wrote; undefined when it never wrote one. */
  condition?: RebootCondition & { since?: Date };
  hold?: Hold;
  /** A reboot request recorded on it (`kreboot request-reboot`). */
  request?: RequestedNode;
}

/** A reboot request on a node (`kreboot request-reboot`), as recorded on it. */
export interface RequestedNode extends Partial<RebootRequest> {
  node: string;
  /** pending: the node acts on it; satisfied: a reboot since answered it (kreboot removes it after its own
   * reboots); unreadable: the annotation cannot be decoded and requests nothing. */
  state: "pending" | "satisfied" | "unreadable";
  problem?: string;
}

export interface Fleet {
  installed: boolean;
  pause: PauseState;
  slots: FleetSlot[];
  queue: QueueEntry[];
  nodes: FleetNode[];
  /** How many nodes run the daemon, by the DaemonSet's status (undefined when it does not say). */
  daemonNodes?: number;
  /** The circuit breaker's record of failed reboots, as on its Lease (lib/safety/breaker.ts decodes it). */
  breakerFailures?: string;
}

export class FleetUnavailable extends Error {}

/** One read of everything `status` and `plan` show. Throws FleetUnavailable saying what could not be read. */
export async function readFleet(kube: Kube, o: FleetOptions): Promise<Fleet> {
  let leases;
  try {
    leases = await kube.coord.listNamespacedLease({
      namespace: o.namespace,
      labelSelector: `${LOCK_LABEL}=${o.dsName}`,
    });
  } catch (e) {
    throw new FleetUnavailable(
      `cannot read kreboot's Leases in namespace ${o.namespace}: ${describeApiError(e)}. ` +
        `Check the kubeconfig and that kreboot runs with --ds-namespace=${o.namespace} --ds-name=${o.dsName}.`,
    );
  }
  const layout = new LockLayout(o.dsName, o.groupLabel);
  let leasePause: PauseState = NOT_PAUSED;
  const slots: FleetSlot[] = [];
  const queue: QueueEntry[] = [];
  let breakerFailures: string | undefined;
  for (const lease of leases.items) {
    if (lease.metadata?.name === breakerLeaseName(o.dsName)) {
      breakerFailures = lease.metadata?.annotations?.[FAILURES_ANNOTATION];
      continue;
    }
    const role = layout.classify(lease);
    if (role.role === "pause") leasePause = decodePauseLease(lease);
    else if (role.role === "slot") slots.push({ role, record: decodeSlot(lease) });
    else if (role.role === "queue") {
      const e = decodeQueueEntry(lease, o.groupLabel);
      if (e && !e.foreign) queue.push(e);
    }
  }
  let installed = false;
  let dsPause: PauseState = NOT_PAUSED;
  let daemonNodes: number | undefined;
  try {
    const ds = await kube.apps.readNamespacedDaemonSet({ name: o.dsName, namespace: o.namespace });
    installed = true;
    dsPause = decodeDaemonSetPause(ds, o);
    const desired = ds.status?.desiredNumberScheduled;
    if (typeof desired === "number" && desired > 0) daemonNodes = desired;
  } catch (e) {
    if (!isNotFound(e)) throw new FleetUnavailable(`cannot read DaemonSet: ${describeApiError(e)}`);
  }
  let list;
  try {
    list = await kube.core.listNode({});
  } catch (e) {
    throw new FleetUnavailable(`cannot list Nodes: ${describeApiError(e)}`);
  }
  const nodes = list.items.map((n) => fleetNode(n, o.groupLabel));
  nodes.sort((a, b) => a.name.localeCompare(b.name));
  const byName = new Map(nodes.map((n) => [n.name, n]));
  for (const s of slots) {
    const phase = holderPhase(s.record.phase, byName.get(s.record.holder)?.condition?.state);
    if (phase !== undefined) s.phase = phase;
  }
  return {
    installed,
    pause: effectivePause(leasePause, dsPause),
    slots,
    queue,
    nodes,
    ...(daemonNodes === undefined ? {} : { daemonNodes }),
    ...(breakerFailures === undefined ? {} : { breakerFailures }),
  };
}

/**
 * The phase a slot's holder is in. The Lease records only the phases a restart must tell apart
 * (lib/machine/startup.ts): it says `cordoning` through the drain (`draining` with `--wait-for-workloads`) and,
 * on a node with boot IDs, on until `release-delay` or the release. The holder's condition says the later step
 * (Draining, Rebooting, RebootConfirmed) once it has stood for a moment.
 */
export function holderPhase(
  recorded: string | undefined,
  conditionState: string | undefined,
): string | undefined {
  const later = CONDITION_PHASE.get(conditionState ?? "");
  if (later === undefined || recorded === undefined) return recorded;
  const at = CYCLE.indexOf(recorded);
  return at >= 0 && at < CYCLE.indexOf(later) ? later : recorded;
}

/** The holding phases in the order of a cycle, as far as a condition step can bring a record forward. */
const CYCLE = ["cordoning", "draining", "rebooting", "recovering"];
const CONDITION_PHASE = new Map<string, string>([
  ["Draining" satisfies ReportReason, "draining"],
  ["Rebooting" satisfies ReportReason, "rebooting"],
  ["RebootConfirmed" satisfies ReportReason, "recovering"],
  ["RebootAssumed" satisfies ReportReason, "recovering"],
]);

function fleetNode(n: k8s.V1Node, groupLabel: string): FleetNode {
  const out: FleetNode = {
    name: n.metadata?.name ?? "",
    group: groupOf(n.metadata?.labels, groupLabel),
    unschedulable: n.spec?.unschedulable === true,
  };
  const found = findCondition(n);
  if (found) out.condition = decodeCondition(found);
  const hold = holdOf(n);
  if (hold) out.hold = hold;
  const request = requestedNode(out.name, n);
  if (request) out.request = request;
  return out;
}

function requestedNode(name: string, node: k8s.V1Node): RequestedNode | undefined {
  const r = requestOf(node);
  if (r === undefined) return undefined;
  if (r.problem !== undefined) return { node: name, state: "unreadable", problem: r.problem };
  return { node: name, ...r.value, state: rebootRequested(node) ? "pending" : "satisfied" };
}

export interface GroupStatus {
  /** How people see the group: `all nodes`, `nodes without KEY`, `KEY=VALUE`. */
  group: string;
  /** The label value; absent for all nodes and for the nodes without the label. */
  value?: string;
  /** Nodes in the group (the base of its percentages). */
  nodes: number;
  /** Slots the group may hold now, and what sets it (`--concurrency=1`, `--budget=…`). */
  allowed: number;
  by: string;
  inUse: number;
  /** When a scheduled budget of the group next starts or stops (ISO), if one does. */
  budgetChanges?: string;
}

/** Holders per group: a slot written for another --group-label counts everywhere, as the lock counts it. */
export function slotsInUse(fleet: Fleet): { byGroup: Map<string, number>; foreign: number; total: number } {
  const byGroup = new Map<string, number>();
  let foreign = 0;
  const holders = new Set<string>();
  for (const s of fleet.slots) {
    if (s.record.holder === "") continue;
    holders.add(s.record.holder);
    if (s.role.set === "foreign") foreign++;
    else if (s.role.set === "group") byGroup.set(s.role.key, (byGroup.get(s.role.key) ?? 0) + 1);
  }
  return { byGroup, foreign, total: holders.size };
}

/** Every group that has nodes or holds a slot, with its allowance at `now`, in name order. */
export function fleetGroups(fleet: Fleet, o: FleetOptions, now: number): GroupStatus[] {
  const groups = new Map<string, { group: Group; nodes: number }>();
  const add = (g: Group, n: number) => {
    const cur = groups.get(groupKey(g));
    groups.set(groupKey(g), { group: g, nodes: (cur?.nodes ?? 0) + n });
  };
  for (const n of fleet.nodes) add(n.group, 1);
  for (const s of fleet.slots) if (s.role.set === "group") add(s.role.group, 0);
  const all = groups.get("all");
  if (all && fleet.daemonNodes !== undefined) all.nodes = fleet.daemonNodes;
  const used = slotsInUse(fleet);
  const policy = { concurrency: o.concurrency, budgets: o.budgets };
  const out: GroupStatus[] = [];
  for (const [key, { group, nodes }] of groups) {
    const a = allowedSlots(policy, group, nodes, now);
    const change = nextBudgetChange(policy, group, now);
    out.push({
      group: describeGroup(group, o.groupLabel),
      ...(group.kind === "value" ? { value: group.value } : {}),
      nodes,
      allowed: a.allowed,
      by: a.by,
      inUse: (used.byGroup.get(key) ?? 0) + used.foreign,
      ...(change === undefined ? {} : { budgetChanges: new Date(change).toISOString() }),
    });
  }
  return out.sort((a, b) => a.group.localeCompare(b.group));
}
