/**
 * What a node asks of the lock when it wants a slot, and what it is told when it does not get one: the
 * request (its labels, which decide its group, and since when its reboot has been required, its place in line)
 * and the refusal, worded from the plan (lib/lock/plan.ts) so that the RebootBlocked message says what holds
 * the node back — the slots, a budget and when it changes, the total cap, or the nodes ahead in line.
 */
import { appliesTo, type BudgetPolicy, describeGroup, type Group, groupKey, groupOf } from "../budget/mod.ts";
import type { Contender, Plan } from "./plan.ts";
import type { SlotRecord } from "./slots.ts";
import type { SlotView } from "./view.ts";

/** Why a node did not get a slot: `full` (no free slot, or others are ahead in line), a budget, the cap. */
export type RefusalReason = "paused" | "full" | "budget" | "total";

export type AcquireResult =
  | { acquired: true; slot: SlotRecord }
  | { acquired: false; reason: RefusalReason; message: string };

export interface AcquireRequest {
  /** The node's labels: `--group-label` picks its group from them. */
  labels?: Readonly<Record<string, string>>;
  /** When the node's reboot became required (epoch ms): its place in line. */
  requiredSinceMs?: number;
}

/** Whether a percentage applies to group `g` (then its nodes must be counted). */
export function needsNodeCount(policy: BudgetPolicy, g: Group): boolean {
  if (policy.concurrency.kind === "percent") return true;
  return policy.budgets.some((b) => b.nodes.kind === "percent" && appliesTo(b, g));
}

/**
 * The group and place in line of `node` for this request: its group from its labels (the last known group
 * when no labels come with it), and its place from the earliest of the request, what it asked before, and its
 * queue entry (so a restarted node keeps its place).
 */
export function contenderFor(
  node: string,
  groupLabel: string,
  req: AcquireRequest,
  before: { group?: Group; requiredSinceMs?: number; entrySinceMs?: number },
  now: number,
): Omit<Contender, "groupNodes"> {
  const group = req.labels !== undefined || before.group === undefined
    ? groupOf(req.labels, groupLabel)
    : before.group;
  const since = Math.min(
    req.requiredSinceMs ?? before.requiredSinceMs ?? now,
    before.entrySinceMs ?? Infinity,
  );
  return { node, group, key: groupKey(group), requiredSinceMs: since };
}

function describeHolder(v: SlotView): string {
  return `${v.record.holder}${v.record.phase ? ` (${v.record.phase})` : ""}`;
}

/** The refusal for a plan in which it is not this node's turn. */
export function refusal(p: Plan, me: Contender, groupLabel: string): AcquireResult {
  const a = p.admission;
  const of = me.group.kind === "all" ? "" : ` of ${describeGroup(me.group, groupLabel)}`;
  if (!a.ok && a.reason === "total") return { acquired: false, reason: "total", message: a.message };
  if (!a.ok && a.allowance.by.startsWith("--budget")) {
    const when = p.budgetChangeAtMs === undefined
      ? "; no scheduled budget changes it"
      : `; the limit may change at ${new Date(p.budgetChangeAtMs).toISOString()}`;
    return { acquired: false, reason: "budget", message: `${a.message}${when}` };
  }
  if (!a.ok) {
    const holders = p.holders.map(describeHolder).join(", ") || "nodes of another --group-label";
    const line = p.position > 1 ? `; ${p.position - 1} node(s) ahead in line` : "";
    return {
      acquired: false,
      reason: "full",
      message: `all ${a.allowance.allowed} slot(s)${of} held by ${holders}${line}`,
    };
  }
  const ahead = p.position - 1;
  return {
    acquired: false,
    reason: "full",
    message: ahead > 0
      ? `waiting in line${of}: ${ahead} node(s) ahead of this one, ${p.lineLength} waiting`
      : `no free slot${of} yet`,
  };
}
