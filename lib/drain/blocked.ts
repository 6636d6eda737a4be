/**
 * The pods that hold a drain up right now, each with its cause (lib/drain/blockers.ts). The drain records every
 * refusal here and every pod that got through; the set goes to `onBlocked` when it changes — at once when the
 * first pod blocks, then at most once per interval (the node condition, the `DrainBlocked` Event and the
 * `kreboot_drain_blocked_pods` metric follow it, and must not churn with every retry) — and [] once no pod
 * blocks any more. It also counts each pod's admission denials, for the growing backoff.
 */
import { describeBlocker, type DrainBlocker } from "./blockers.ts";

export interface BlockedOptions {
  /** Receives the pods that block the drain now (sorted by pod), [] when none does any more. */
  onBlocked?: (blockers: readonly DrainBlocker[]) => void;
  /** At most one report per this interval, except the first block; default 5 s. */
  intervalMs?: number;
  now?: () => number;
}

export class BlockedPods {
  readonly #pods = new Map<string, { blocker: DrainBlocker; denials: number }>();
  readonly #o: BlockedOptions;
  /** What was reported last, as text (so a repeat of the same causes is not reported again). */
  #reported = "";
  #reportedAt = -Infinity;

  constructor(opts: BlockedOptions = {}) {
    this.#o = opts;
  }

  #now(): number {
    return this.#o.now?.() ?? performance.now();
  }

  /** A refusal of `pod`'s eviction; returns how many admission denials the pod has had in this drain. */
  refused(pod: string, blocker: DrainBlocker): number {
    const denials = (this.#pods.get(pod)?.denials ?? 0) + (blocker.kind === "admission" ? 1 : 0);
    this.#pods.set(pod, { blocker, denials });
    return denials;
  }

  /** The pod was evicted, deleted or is gone: it no longer blocks. */
  cleared(pod: string): void {
    this.#pods.delete(pod);
  }

  /** The pods blocking now, sorted by pod. */
  blockers(): DrainBlocker[] {
    return [...this.#pods.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, v]) => v.blocker);
  }

  /** Reports the set if it changed: the first block at once, later changes at most once per interval. */
  flush(): void {
    const now = this.#now();
    const blockers = this.blockers();
    const text = blockers.map(describeBlocker).join("\n");
    if (text === this.#reported) return;
    const first = this.#reported === "";
    if (!first && now - this.#reportedAt < (this.#o.intervalMs ?? 5_000)) return;
    this.#report(blockers, text, now);
  }

  /** The drain is over: whatever was reported as blocking no longer does. */
  finish(): void {
    this.#pods.clear();
    if (this.#reported !== "") this.#report([], "", this.#now());
  }

  #report(blockers: DrainBlocker[], text: string, now: number): void {
    this.#reported = text;
    this.#reportedAt = now;
    this.#o.onBlocked?.(blockers);
  }
}
