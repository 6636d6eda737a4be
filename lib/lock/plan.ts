/**
 * A node's plan for the lock at one instant, as a pure function of what it sees: how many slots its group may
 * use (the most restrictive active budget, lib/budget), how many are in use there and across all groups,
 * which slot it would take, and whether it is its turn (lib/queue's fair order, with the fallback delay for a
 * next in line that does not act). Every waiter computes the same answer from the same watched state, so on a
 * handover only the next in line writes.
 *
 * Counting is conservative: a slot written for another `--group-label` (foreign) counts against every group,
 * and the total counts every node that holds any slot, with or without a total-cap slot.
 */
import {
  type Admission,
  admit,
  allowedSlots,
  type BudgetPolicy,
  type Group,
  nextBudgetChange,
} from "../budget/mod.ts";
import { actDelayMs, compareWaiters, type Room, type Waiter } from "../queue/mod.ts";
import type { QueueEntry } from "./queue_entry.ts";
import type { SlotRecord } from "./slots.ts";
import type { SlotView } from "./view.ts";

/**
 * The waiters this near the head of their group's line watch the holders' Nodes and look them up when they
 * try (lib/lock/wait.ts, mod.ts): a holder whose Node is gone frees a slot that only the first in line would
 * take; the second watches too, in case the first does not act. Everyone further back hears of a handover
 * from the Lease watch, so a handover costs the same few requests however long the line is.
 */
export const HEAD_OF_LINE = 2;

export interface Contender {
  node: string;
  group: Group;
  /** `groupKey(group)`. */
  key: string;
  requiredSinceMs: number;
  /** Nodes in the group (the base of its percentages); 0 when nothing needed counting. */
  groupNodes: number;
}

export interface PlanInput {
  now: number;
  me: Contender;
  policy: BudgetPolicy;
  groupLabel: string;
  /** `--max-concurrency-total`; 0 = no cap. */
  cap: number;
  paused: boolean;
  slots: readonly SlotView[];
  /** The queue, longest waiting first. */
  entries: readonly QueueEntry[];
  /** How long a next in line has to act before the node behind it may go instead. */
  graceMs: number;
  /** Since when (local ms) nothing changed that could move the line or free a slot. */
  unchangedSince: number;
  slotName(index: number): string;
  totalSlotName(index: number): string;
}

/** A slot the node may take: an existing Lease (free, expired or orphaned) or one to create. */
export interface Candidate {
  name: string;
  index: number;
  record: SlotRecord;
  view?: SlotView;
}

export type Turn =
  /** Go now: next in line (`jumped` empty) or the ones ahead let their turn pass (`jumped` names them). */
  | { kind: "go"; jumped: string[] }
  /** Next after others: go at `atMs` if nothing changes meanwhile. */
  | { kind: "later"; atMs: number }
  | { kind: "none" };

export interface Plan {
  /** For this node's group: whether one more slot may be taken, and the allowance in force. */
  admission: Admission;
  /** When a scheduled budget of the group next starts or stops, if one does. */
  budgetChangeAtMs?: number;
  inUse: number;
  totalInUse: number;
  /** The slots of the group that are held, for messages. */
  holders: SlotView[];
  /** The total-cap slots that are held. */
  totalHolders: SlotView[];
  groupCandidate?: Candidate;
  /** With a cap, the total-cap slot to take (none when this node holds one already). */
  totalCandidate?: Candidate;
  heldTotal?: SlotView;
  turn: Turn;
  /** This node's 1-based place in its group's line, and how many wait there (this node included). */
  position: number;
  lineLength: number;
}

function held(v: SlotView): boolean {
  return v.verdict.kind === "held" || v.verdict.kind === "mine";
}

function inSet(v: SlotView, key: string): boolean {
  return v.role.set === "group" && v.role.key === key;
}

/**
 * The lowest free slot in `[0, limit - heldAbove)`, where heldAbove are the holders not on a slot below
 * `limit`: racers that agree on the limit all reach for the same Leases, so the compare-and-swap alone keeps
 * the holders within it, also after a budget dropped below the slots in use.
 */
function lowestFree(
  slots: SlotView[],
  limit: number,
  inUse: number,
  name: (i: number) => string,
): Candidate | undefined {
  const byIndex = new Map(slots.map((v) => [v.index, v]));
  const heldBelow = slots.filter((v) => held(v) && v.index < limit).length;
  const range = limit - (inUse - heldBelow);
  for (let i = 0; i < range; i++) {
    const v = byIndex.get(i);
    if (v === undefined) {
      return {
        name: name(i),
        index: i,
        record: { name: name(i), resourceVersion: "", holder: "", transitions: 0, problems: [] },
      };
    }
    if (!held(v)) return { name: v.name, index: i, record: v.record, view: v };
  }
  return undefined;
}

export function plan(i: PlanInput): Plan {
  const { me } = i;
  const foreignHeld = i.slots.filter((v) => v.role.set === "foreign" && held(v)).length;
  const inUseOf = (key: string) => i.slots.filter((v) => inSet(v, key) && held(v)).length + foreignHeld;
  const named = i.slots.filter((v) => v.role.set !== "total" && v.record.holder !== "");
  const slotHolders = new Set(named.filter(held).map((v) => v.record.holder));
  // Not in line: every node a group slot names, also one whose Node is gone or that fell silent (a daemon
  // killed between taking its slot and deleting its entry leaves the entry behind). It cannot take a turn, so
  // its entry must not cost the nodes behind it the grace while its slot is the one they would take.
  const outOfLine = new Set(named.map((v) => v.record.holder));
  const totals = i.slots.filter((v) => v.role.set === "total");
  const totalHolders = new Set([...slotHolders, ...totals.filter(held).map((v) => v.record.holder)]);
  const heldTotal = totals.find((v) => v.verdict.kind === "mine");
  const totalInUse = totalHolders.size;
  const inUse = inUseOf(me.key);
  // This node's own total-cap slot (taken in an earlier round) is not one more.
  const othersInTotal = totalInUse - (heldTotal ? 1 : 0);
  const admission = admit({
    policy: i.policy,
    groupLabel: i.groupLabel,
    group: me.group,
    groupNodes: me.groupNodes,
    inUse,
    total: { cap: i.cap, inUse: othersInTotal },
    atMs: i.now,
  });
  const out: Plan = {
    admission,
    inUse,
    totalInUse,
    holders: i.slots.filter((v) => inSet(v, me.key) && held(v)),
    totalHolders: totals.filter(held),
    turn: { kind: "none" },
    position: 0,
    lineLength: 0,
  };
  const change = nextBudgetChange(i.policy, me.group, i.now);
  if (change !== undefined) out.budgetChangeAtMs = change;
  if (heldTotal) out.heldTotal = heldTotal;
  if (admission.ok) {
    const mine = i.slots.filter((v) => inSet(v, me.key));
    const g = lowestFree(mine, admission.allowance.allowed, inUse, i.slotName);
    if (g) out.groupCandidate = g;
    if (i.cap > 0 && !heldTotal) {
      const t = lowestFree(totals, i.cap, totalInUse, i.totalSlotName);
      if (t) out.totalCandidate = t;
    }
  }

  // The line: entries in it (not passed over, not holding a slot), this node in its own place.
  const self: Waiter = { node: me.node, group: me.key, requiredSinceMs: me.requiredSinceMs };
  const waiters: Waiter[] = [self];
  const nodesOf = new Map<string, { group: Group; nodes: number }>();
  for (const e of i.entries) {
    if (e.foreign || e.passedOverBy !== undefined || e.node === me.node || outOfLine.has(e.node)) continue;
    waiters.push({ node: e.node, group: e.key, requiredSinceMs: e.requiredSinceMs });
    const known = nodesOf.get(e.key);
    nodesOf.set(e.key, { group: e.group, nodes: Math.max(known?.nodes ?? 0, e.groupNodes ?? 0) });
  }
  const line = waiters.filter((w) => w.group === me.key);
  out.lineLength = line.length;
  out.position = line.filter((w) => compareWaiters(w, self) < 0).length + 1;

  const groupReady = admission.ok && out.groupCandidate !== undefined;
  const totalReady = i.cap === 0 || heldTotal !== undefined || out.totalCandidate !== undefined;
  if (i.paused || !groupReady || !totalReady) return out;
  const rooms = new Map<string, Room>([[me.key, { allowed: admission.allowance.allowed, inUse }]]);
  for (const [key, g] of nodesOf) {
    if (key === me.key) continue;
    rooms.set(key, { allowed: allowedSlots(i.policy, g.group, g.nodes, i.now).allowed, inUse: inUseOf(key) });
  }
  const total = { cap: i.cap, inUse: othersInTotal };
  const delay = actDelayMs(me.node, waiters, rooms, total, i.graceMs);
  if (delay === undefined) return out;
  if (delay === 0) {
    out.turn = { kind: "go", jumped: [] };
    return out;
  }
  const atMs = i.unchangedSince + delay;
  if (i.now < atMs) {
    out.turn = { kind: "later", atMs };
    return out;
  }
  // Everyone ahead who could have used the free slot had at least a grace period to do so: in the group,
  // and with a cap, in every group with room (they compete for the same total).
  const free = (w: Waiter) => {
    if (i.cap === 0) return w.group === me.key;
    const r = rooms.get(w.group);
    return r !== undefined && r.allowed > r.inUse;
  };
  const jumped = waiters.filter((w) => free(w) && compareWaiters(w, self) < 0).map((w) => w.node);
  out.turn = { kind: "go", jumped };
  return out;
}
