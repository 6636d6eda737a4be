/**
 * How a waiting node waits for its turn: on its watches, with no polling. It wakes its caller only when the
 * plan (lib/lock/plan.ts) says it may go — it is next in line for a free slot, or the nodes ahead of it let
 * their turn go by — or when what it reports must change (the pause set or lifted, its own entry passed
 * over). So a handover wakes the next in line, not every waiter. Timers stand in for the events that have
 * none: a holder falling silent past `--lock-ttl`, a scheduled budget starting or ending, the fallback delay
 * behind a next in line that does not act.
 */
import { HEAD_OF_LINE, type Plan } from "./plan.ts";
import type { LockWatch, WakeReason } from "./watch.ts";

export interface WaitDeps {
  watch: LockWatch;
  now: () => number;
  /** Whether `--max-concurrency-total` is set (then the total-cap slots' holders matter too). */
  cap: boolean;
  /**
   * The plan from what is seen now. `lookUp`: the first in line judge the holders from their watches on the
   * holders' Nodes, and read a Node whose watch says nothing (it was deleted while no watch was open).
   */
  plan(lookUp: boolean): Promise<Plan>;
  paused(): boolean;
  /** Whether this node holds a slot (then the caller has something to do). */
  holding(): boolean;
  /** Whether this node's queue entry was passed over (then its caller puts it back by trying again). */
  passedOver(): boolean;
}

/** Timers fire a little after the moment they wait for, so that the moment has surely passed. */
const TIMER_SLACK_MS = 50;

export async function waitForTurn(d: WaitDeps, signal: AbortSignal, maxMs: number): Promise<WakeReason> {
  const deadline = d.now() + maxMs;
  for (;;) {
    const wasPaused = d.paused();
    let p = await d.plan(false);
    if (d.holding() || d.passedOver() || (!wasPaused && p.turn.kind === "go")) return "changed";
    // A deleted holder frees its slot at once: the first in line watch the holders' Nodes, and judge them from
    // those watches. A Node deleted while no watch was open (an API server outage) never shows up on one: its
    // watch stays silent, and then it is read.
    const head = p.position <= HEAD_OF_LINE;
    d.watch.watchNodes(head ? watchedHolders(p, d.cap) : []);
    if (head) {
      p = await d.plan(true);
      if (!wasPaused && p.turn.kind === "go") return "changed";
    }
    const now = d.now();
    let wakeAt = Infinity;
    for (const v of [...p.holders, ...(d.cap ? p.totalHolders : [])]) {
      if (v.verdict.kind === "held" && v.verdict.expiresInMs !== undefined) {
        wakeAt = Math.min(wakeAt, now + v.verdict.expiresInMs + TIMER_SLACK_MS);
      }
    }
    if (p.budgetChangeAtMs !== undefined) wakeAt = Math.min(wakeAt, p.budgetChangeAtMs + TIMER_SLACK_MS);
    if (p.turn.kind === "later") wakeAt = Math.min(wakeAt, p.turn.atMs + TIMER_SLACK_MS);
    const until = Math.min(deadline, wakeAt);
    const result = await d.watch.next(signal, Math.max(0, until - now));
    if (result === "aborted") return result;
    if (result === "timeout" && d.now() >= deadline) return "timeout";
    // The watch broke and was restarted: what was seen meanwhile is unknown, let the caller look afresh.
    if (result === "changed" && !d.watch.live) return "changed";
    if (d.paused() !== wasPaused) return "changed";
  }
}

function watchedHolders(p: Plan, cap: boolean): string[] {
  const names = [...p.holders, ...(cap ? p.totalHolders : [])]
    .filter((v) => v.verdict.kind === "held")
    .map((v) => v.record.holder);
  return [...new Set(names)];
}
