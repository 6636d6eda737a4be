/**
 * How many slots a group may use at an instant, and whether one more may be taken. Karpenter's rules
 * (https://karpenter.sh/docs/concepts/disruption/#nodepool-disruption-budgets): of the budgets that apply
 * to the group and are active now, the most restrictive wins, and a percentage of the group's nodes rounds
 * up, as a PodDisruptionBudget's maxUnavailable does. `--concurrency` is the default budget: it sets the
 * limit while none of the group's budgets is active (as Karpenter's default 10% applies only where no budget
 * is given), resolved by the lock's own rule (lib/lock/slots.ts: a percentage rounds down, at least 1), so
 * that without `--budget` nothing changes. So a scheduled budget can both tighten the limit (`nodes=0` in
 * office hours) and widen it (`nodes=30%` at night) for as long as it is active. A budget below the slots in
 * use stops new acquisitions only.
 */
import { resolveConcurrency } from "../lock/slots.ts";
import { closesAfter, isOpen, nextOpening } from "../cron_windows/mod.ts";
import { describeGroup, type Group } from "./group.ts";
import { type Budget, formatBudgetSpec, formatLimit, type Limit } from "./spec.ts";

/** Whether budget `b` is meant for group `g` (whatever its schedule). */
export function appliesTo(b: Budget, g: Group): boolean {
  if (b.group === undefined) return true;
  if (g.kind === "unlabeled") return b.group === "";
  return g.kind === "value" && g.value === b.group;
}

/** Whether `b` is active at `atMs`: always without a schedule, else while its window is open. */
export function isActive(b: Budget, atMs: number): boolean {
  return b.window === undefined || isOpen(b.window, atMs);
}

/** `b`'s number of slots for a group of `groupNodes` nodes: percentages round up. */
export function budgetSlots(l: Limit, groupNodes: number): number {
  return l.kind === "count" ? l.n : Math.ceil((groupNodes * l.percent) / 100);
}

export interface Allowance {
  /** Slots the group may hold now. */
  allowed: number;
  /** What sets it, for messages: `--concurrency=1` or `--budget=<spec>`. */
  by: string;
}

export interface BudgetPolicy {
  concurrency: Limit;
  budgets: readonly Budget[];
}

/**
 * The slots group `g` of `groupNodes` nodes may hold at `atMs`: the least of the group's active budgets, or
 * `--concurrency` when none is active. On a tie the budget given first names the reason.
 */
export function allowedSlots(p: BudgetPolicy, g: Group, groupNodes: number, atMs: number): Allowance {
  let best: Allowance | undefined;
  for (const b of p.budgets) {
    if (!appliesTo(b, g) || !isActive(b, atMs)) continue;
    const allowed = budgetSlots(b.nodes, groupNodes);
    if (best === undefined || allowed < best.allowed) {
      best = { allowed, by: `--budget=${formatBudgetSpec(b)}` };
    }
  }
  return best ?? {
    allowed: resolveConcurrency(p.concurrency, groupNodes),
    by: `--concurrency=${formatLimit(p.concurrency)}`,
  };
}

/**
 * The next instant after `atMs` at which a scheduled budget of group `g` starts or stops applying (so the
 * allowance may change), or undefined when none will. For `retryAtMs` and status lines.
 */
export function nextBudgetChange(p: BudgetPolicy, g: Group, atMs: number): number | undefined {
  let best: number | undefined;
  for (const b of p.budgets) {
    if (!b.window || !appliesTo(b, g)) continue;
    const t = isOpen(b.window, atMs) ? closesAfter(b.window, atMs) : nextOpening(b.window, atMs);
    if (t !== undefined && Number.isFinite(t) && (best === undefined || t < best)) best = t;
  }
  return best;
}

export interface TotalCap {
  /** `--max-concurrency-total`; 0 = no cap. */
  cap: number;
  /** Slots held across all groups now. */
  inUse: number;
}

export interface AdmissionInput {
  policy: BudgetPolicy;
  /** `--group-label`, for messages. */
  groupLabel: string;
  group: Group;
  /** Nodes in the group (the base of percentages). */
  groupNodes: number;
  /** Slots the group's nodes hold now. */
  inUse: number;
  total: TotalCap;
  atMs: number;
}

export type Admission =
  & { allowance: Allowance }
  & ({ ok: true } | { ok: false; reason: "budget" | "total"; message: string; retryAtMs?: number });

/**
 * Whether a node of `i.group` may take one more slot at `i.atMs`. Never asks anyone to give a slot back:
 * a budget that dropped below the slots in use only stops new acquisitions. A refusal by a scheduled
 * budget says when the allowance may change next (`retryAtMs`).
 */
export function admit(i: AdmissionInput): Admission {
  const allowance = allowedSlots(i.policy, i.group, i.groupNodes, i.atMs);
  if (i.inUse >= allowance.allowed) {
    const message = `${
      describeGroup(i.group, i.groupLabel)
    }: ${i.inUse} of ${allowance.allowed} slot(s) in use, the limit set by ${allowance.by}`;
    const retryAtMs = nextBudgetChange(i.policy, i.group, i.atMs);
    return retryAtMs === undefined
      ? { allowance, ok: false, reason: "budget", message }
      : { allowance, ok: false, reason: "budget", message, retryAtMs };
  }
  if (i.total.cap > 0 && i.total.inUse >= i.total.cap) {
    const message =
      `${i.total.inUse} slot(s) in use across all groups, the limit set by --max-concurrency-total=${i.total.cap}`;
    return { allowance, ok: false, reason: "total", message };
  }
  return { allowance, ok: true };
}
