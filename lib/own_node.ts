/**
 * What the daemon reads from and does to the node it runs on, in kured's order: before the drain the
 * PreferNoSchedule taint, the pre-reboot labels, `--drain-delay` and the cordon (`prepareForDrain`); the
 * drain; after the reboot the uncordon (only if kreboot cordoned), the post-reboot labels and the taint off
 * (`restoreAfterReboot`); after a failed drain the retreat. A thin adapter from the configuration onto
 * lib/drain, plus what the loop reads of this node.
 */
import type * as k8s from "@kubernetes/client-node";
import type { Config } from "./config/mod.ts";
import {
  cordon,
  CORDONED_BY_KREBOOT,
  drain,
  type EvictionResult,
  type KnownNode,
  preflight,
  restoreAfterReboot,
  retreat,
  setNodeLabels,
  setPreferNoScheduleTaint,
} from "./drain/mod.ts";
import type { DrainBlocker } from "./drain/blockers.ts";
import type { Pod } from "./drain/pods.ts";
import type { GateResult } from "./gates/gate.ts";
import type { Kube } from "./kube/mod.ts";
import type { Logger } from "./log.ts";
import type { NodeState } from "./loop.ts";
import { sleep } from "./sleep.ts";

export interface DrainHooks {
  onEviction?(result: EvictionResult): void;
  onDrained?(seconds: number, ok: boolean): void;
  /** The pods that hold the drain up now, with their causes; [] once none does. */
  onBlocked?(blockers: readonly DrainBlocker[]): void;
  /** A pod was deleted instead of evicted (`--drain-disable-eviction-after`). */
  onDeletedInstead?(pod: string, why: string): void;
  /** Before the first eviction, with the pods about to be evicted; throwing fails the drain (nothing evicted). */
  beforeEvicting?(pods: readonly Pod[]): Promise<void>;
}

/**
 * How old the pre-flight's list of pods may be for the drain to start from it: it runs in `cordoning`, right
 * before the cordon, so under a normal load the drain begins well within this; with a long `--drain-delay` in
 * between, the drain lists afresh. Pods bound after the list are found by the drain's first wait-poll.
 */
const PREFLIGHT_PODS_FRESH_MS = 5_000;

/** The configured steps on this node; the loop reaches them through its ports. */
export class OwnNode {
  #kube: Kube;
  #c: Config;
  #log: Logger;
  #hooks: DrainHooks;
  #known: KnownNode | undefined;
  /** The pods the last pre-flight listed, and when: the drain right after it starts from them. */
  #listed: { pods: readonly Pod[]; atMs: number } | undefined;

  /** `known`: the Node as the daemon follows it (lib/node_control/watch.ts), for a first write without a read. */
  constructor(kube: Kube, config: Config, log: Logger, hooks: DrainHooks = {}, known?: KnownNode) {
    this.#kube = kube;
    this.#c = config;
    this.#log = log;
    this.#hooks = hooks;
    this.#known = known;
  }

  get #node(): string {
    return this.#c.nodeId;
  }

  preflight(): Promise<GateResult> {
    return preflight(this.#kube, this.#node, {
      podSelector: this.#c.drainPodSelector,
      skipWaitForDeleteTimeoutSeconds: this.#c.skipWaitForDeleteTimeout,
      listed: (pods) => (this.#listed = { pods, atMs: Date.now() }),
    });
  }

  /** The pre-flight's pods when it listed them moments ago (it runs right before the cordon); once. */
  #freshlyListed(): readonly Pod[] | undefined {
    const l = this.#listed;
    this.#listed = undefined;
    return l && Date.now() - l.atMs <= PREFLIGHT_PODS_FRESH_MS ? l.pods : undefined;
  }

  /** kured's `--prefer-no-schedule-taint`: on while a reboot is pending, off otherwise. True when it changed. */
  async setPendingTaint(on: boolean): Promise<boolean> {
    if (!this.#c.preferNoScheduleTaint) return false;
    try {
      const key = this.#c.preferNoScheduleTaint;
      return (await setPreferNoScheduleTaint(this.#kube, this.#node, key, on, this.#known)).changed;
    } catch (e) {
      this.#log.warn("could not change the PreferNoSchedule taint", { on, error: String(e) });
      return false;
    }
  }

  /**
   * Everything kured does before the drain, in its order: the PreferNoSchedule taint, the pre-reboot labels,
   * the wait of `--drain-delay`, then the cordon.
   */
  async prepareForDrain(signal?: AbortSignal): Promise<void> {
    const tainted = await this.setPendingTaint(true);
    await setNodeLabels(this.#kube, this.#node, this.#c.preRebootNodeLabels);
    if (this.#c.drainDelay > 0 && !this.#kube.dryRun) {
      this.#log.info("waiting --drain-delay before cordoning", { ms: this.#c.drainDelay });
      await sleep(this.#c.drainDelay, signal);
    }
    // Right after a write of our own the followed Node is likely one version behind: read it then.
    const changed = tainted || Object.keys(this.#c.preRebootNodeLabels).length > 0;
    const { wasUnschedulable } = await cordon(this.#kube, this.#node, changed ? undefined : this.#known);
    this.#log.info(
      wasUnschedulable
        ? "node was already cordoned by someone else; it stays cordoned after the reboot"
        : this.#kube.dryRun
        ? "would cordon the node (dry run)"
        : "cordoned the node",
    );
  }

  async drain(signal: AbortSignal): Promise<{ ok: true } | { ok: false; error: string }> {
    const t0 = performance.now();
    const pods = this.#freshlyListed();
    const r = await drain(this.#kube, this.#node, {
      log: this.#log,
      gracePeriodSeconds: this.#c.drainGracePeriod,
      timeoutMs: this.#c.drainTimeout,
      skipWaitForDeleteTimeoutSeconds: this.#c.skipWaitForDeleteTimeout,
      podSelector: this.#c.drainPodSelector,
      ...(pods ? { pods } : {}),
      signal,
      disableEvictionAfterMs: this.#c.drainDisableEvictionAfter,
      onEviction: (result) => this.#hooks.onEviction?.(result),
      onBlocked: (blockers) => this.#hooks.onBlocked?.(blockers),
      onDeletedInstead: (pod, why) => this.#hooks.onDeletedInstead?.(pod, why),
      ...(this.#hooks.beforeEvicting ? { beforeEvicting: this.#hooks.beforeEvicting } : {}),
    });
    this.#hooks.onDrained?.((performance.now() - t0) / 1000, r.ok);
    if (r.ok) {
      this.#log.info("drained the node", { evicted: r.evicted, deleted: r.deleted, ms: r.durationMs });
      return { ok: true };
    }
    return { ok: false, error: r.timedOut ? `drain timed out: ${r.reason}` : r.reason };
  }

  /** After the reboot: uncordon (only if kreboot cordoned), post-reboot labels, taint off. */
  async restoreAfterReboot(): Promise<void> {
    await restoreAfterReboot(this.#kube, this.#node, {
      taint: this.#c.preferNoScheduleTaint,
      postRebootLabels: this.#c.postRebootNodeLabels,
      ...(this.#known ? { known: this.#known } : {}),
    }, this.#log);
  }

  /** After a failed drain: undo the cordon (only if kreboot cordoned), the taint and the pre-reboot labels. */
  async retreat(): Promise<void> {
    await retreat(this.#kube, this.#node, {
      taint: this.#c.preferNoScheduleTaint,
      preRebootLabels: this.#c.preRebootNodeLabels,
      ...(this.#known ? { known: this.#known } : {}),
    }, this.#log);
  }
}

/** This node as the loop needs it, from its Node object (lib/node_control/watch.ts follows it). */
export function nodeState(node: k8s.V1Node): NodeState {
  const ready = node.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
  const bootId = node.status?.nodeInfo?.bootID;
  const labels = node.metadata?.labels;
  return {
    ready,
    unschedulable: node.spec?.unschedulable === true,
    cordonedByUs: node.metadata?.annotations?.[CORDONED_BY_KREBOOT] !== undefined,
    ...(bootId ? { bootId } : {}),
    ...(labels ? { labels } : {}),
  };
}
