/**
 * The reboot-loop guard's I/O (the judgement is lib/safety/loop_guard.ts): its count lives in an annotation of
 * the node's own Node object, written by the node's daemon, so it survives the reboots it counts. The hold it
 * puts on a looping node is the operators' per-node hold (lib/node_control/, `kreboot hold`/`unhold`), read
 * and written through node_control. Two entry points: `noteReboot` after a confirmed reboot, and `check`, the
 * gate before a slot.
 */
import { blocked, cannotCheck, CLEAR, type GateResult } from "../gates/gate.ts";
import { describeApiError, dryRunParam, type Kube, MERGE_PATCH } from "../kube/mod.ts";
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "../log.ts";
import { holdOf, isHeld, type NodeLike, writeHold } from "../node_control/mod.ts";
import {
  decodeLoopState,
  encodeLoopState,
  judgeLoop,
  LOOP_ANNOTATION,
  type LoopSettings,
  type LoopState,
  type LoopVerdict,
  observeAfterReboot,
} from "./loop_guard.ts";

/** Who the guard's hold names, so `kreboot status` and a person see where it came from. */
export const LOOP_GUARD_HOLDER = "kreboot reboot-loop guard";

export interface LoopGuardOptions {
  node: string;
  /** The Node as the daemon sees it (its watch of its own Node); default: one read. */
  readNode?: () => Promise<NodeLike>;
  /** `--min-reboot-interval`. */
  minIntervalMs: number;
  /** `--max-consecutive-reboots`. */
  maxConsecutive: number;
  log: Logger;
  /** The guard's count whenever it is read or changed (the `kreboot_consecutive_reboots` metric). */
  onCount?: (count: number) => void;
  /**
   * Told of each write of the guard's state with the Node as the write left it (lib/node_control/watch.ts
   * `expect`), so the daemon's next Node write starts from it. Not called in a dry run.
   */
  nodeWrites?: (written: Promise<k8s.V1Node | undefined>) => void;
  now?: () => number;
}

export class RebootLoopGuard {
  readonly #kube: Pick<Kube, "core" | "dryRun">;
  readonly #o: LoopGuardOptions;

  constructor(kube: Pick<Kube, "core" | "dryRun">, opts: LoopGuardOptions) {
    this.#kube = kube;
    this.#o = opts;
  }

  /** Both settings 0: the guard neither counts nor holds. */
  get off(): boolean {
    return this.#o.minIntervalMs <= 0 && this.#o.maxConsecutive <= 0;
  }

  #settings(): LoopSettings {
    return {
      nowMs: this.#now(),
      minIntervalMs: this.#o.minIntervalMs,
      maxConsecutive: this.#o.maxConsecutive,
    };
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }

  /**
   * After a confirmed reboot: the sentinel still asking for one counts one more reboot in a row (and at
   * `--max-consecutive-reboots` holds the node at once), no longer asking ends the loop. Returns the
   * `RebootLoop` message when the sentinel is still there. Throws when the Node cannot be read or written.
   */
  async noteReboot(sentinelRequired: boolean | undefined): Promise<string | undefined> {
    if (this.off) {
      return sentinelRequired
        ? "the reboot sentinel is still there after the reboot; the reboot-loop guard is off " +
          "(--min-reboot-interval=0, --max-consecutive-reboots=0), so the next reboot waits only for the period"
        : undefined;
    }
    const node = await this.#readNode();
    const state = this.#decode(node);
    if (sentinelRequired === undefined) return undefined; // the sentinel could not be read: nothing learnt
    const next = observeAfterReboot(state, {
      bootId: node.status?.nodeInfo?.bootID ?? "",
      confirmedAtMs: this.#now(),
      sentinelRequired,
    });
    if (!sentinelRequired) {
      if (next.count !== state.count) await this.#write(next, false);
      this.#o.onCount?.(0);
      return undefined;
    }
    const verdict = judgeLoop(next, this.#settings(), isHeld(node));
    await this.#apply(node, state, verdict);
    if (verdict.action !== "go") return verdict.message;
    return `reboot loop: ${next.count} reboot${
      next.count === 1 ? "" : "s"
    } in a row left the sentinel saying ` +
      "a reboot is still required";
  }

  /** The gate before a slot: a looping node waits for `--min-reboot-interval`, a held one until released. */
  async check(): Promise<GateResult> {
    if (this.off) return CLEAR;
    let node: NodeLike;
    try {
      node = await this.#readNode();
    } catch (e) {
      return cannotCheck(
        "reboot-loop",
        `cannot read the node for the reboot-loop guard: ${describeApiError(e)}`,
        this.#now(),
      );
    }
    const state = this.#decode(node);
    const verdict = judgeLoop(state, this.#settings(), isHeld(node));
    try {
      await this.#apply(node, state, verdict);
    } catch (e) {
      return cannotCheck(
        "reboot-loop",
        `cannot record the reboot-loop guard's state on the node: ${describeApiError(e)}`,
        this.#now(),
      );
    }
    switch (verdict.action) {
      case "go":
        return CLEAR;
      case "wait":
        return {
          clear: false,
          reason: "reboot-loop",
          message: verdict.message,
          retryAtMs: verdict.retryAtMs,
        };
      case "hold":
      case "held":
        return blocked("reboot-loop", verdict.message);
    }
  }

  /** Writes what the verdict changed: the count, and with `hold` the hold itself. */
  async #apply(node: NodeLike, before: LoopState, verdict: LoopVerdict): Promise<void> {
    this.#o.onCount?.(verdict.state.count);
    if (verdict.action === "hold") {
      const existing = holdOf(node);
      if (existing) {
        // Someone holds it already: keep their hold (and reason); releasing it releases the guard too.
        this.#o.log.warn("reboot loop: the node is held already; not replacing that hold", {
          heldBy: existing.by,
        });
      }
      this.#o.log.error(verdict.message);
      await this.#write(verdict.state, !existing, verdict.message);
      return;
    }
    if (encodeLoopState(verdict.state) !== encodeLoopState(before)) {
      await this.#write(verdict.state, false);
    }
  }

  async #readNode(): Promise<NodeLike> {
    return await (this.#o.readNode?.() ?? this.#kube.core.readNode({ name: this.#o.node }));
  }

  #decode(node: NodeLike): LoopState {
    const { state, problems } = decodeLoopState(node.metadata?.annotations?.[LOOP_ANNOTATION]);
    for (const p of problems) this.#o.log.warn(p);
    return state;
  }

  /**
   * The guard's state on the Node, and with `hold` first the hold itself, through node_control's writer: a
   * crash between the two leaves a hold without `heldAt`, which the next look completes, never the reverse
   * (a recorded hold that is not there reads as released by a person).
   */
  async #write(state: LoopState, hold: boolean, reason = ""): Promise<void> {
    if (hold) {
      await writeHold(this.#kube, this.#o.node, {
        by: LOOP_GUARD_HOLDER,
        reason,
        since: new Date(this.#now()).toISOString(),
      });
    }
    const value = state.count === 0 && state.heldAtMs === undefined ? null : encodeLoopState(state);
    const written = this.#kube.core.patchNode(
      {
        name: this.#o.node,
        body: { metadata: { annotations: { [LOOP_ANNOTATION]: value } } },
        ...dryRunParam(this.#kube),
      },
      MERGE_PATCH,
    );
    // Its answer is newer than the hold's, written just before: announcing this one is enough.
    if (!this.#kube.dryRun) this.#o.nodeWrites?.(written.catch(() => undefined));
    await written;
  }
}
