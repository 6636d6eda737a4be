/**
 * What the loop does to its own node, in kured's order: pre-reboot labels, drain delay, cordon, drain; after
 * the reboot: uncordon (only if kreboot cordoned), post-reboot labels, taint off; after a failed drain: the
 * retreat. A thin adapter from the configuration onto lib/drain.
 */
import type { Config } from "./config/mod.ts";
import {
  cordon,
  drain,
  type EvictionResult,
  preflight,
  restoreAfterReboot,
  retreat,
  setNodeLabels,
  setPreferNoScheduleTaint,
} from "./drain.ts";
import type { GateResult } from "./gates/gate.ts";
import type { Kube } from "./kube/mod.ts";
import type { Logger } from "./log.ts";
import { sleep } from "./sleep.ts";

export interface DrainHooks {
  onEviction?(result: EvictionResult): void;
  onDrained?(seconds: number, ok: boolean): void;
}

export class NodeOps {
  #kube: Kube;
  #c: Config;
  #log: Logger;
  #hooks: DrainHooks;

  constructor(kube: Kube, config: Config, log: Logger, hooks: DrainHooks = {}) {
    this.#kube = kube;
    this.#c = config;
    this.#log = log;
    this.#hooks = hooks;
  }

  get #node(): string {
    return this.#c.nodeId;
  }

  preflight(): Promise<GateResult> {
    return preflight(this.#kube, this.#node, {
      podSelector: this.#c.drainPodSelector,
      skipWaitForDeleteTimeoutSeconds: this.#c.skipWaitForDeleteTimeout,
    });
  }

  /** kured's `--prefer-no-schedule-taint`: on while a reboot is pending, off otherwise. */
  async pending(on: boolean): Promise<void> {
    if (!this.#c.preferNoScheduleTaint) return;
    try {
      await setPreferNoScheduleTaint(this.#kube, this.#node, this.#c.preferNoScheduleTaint, on);
    } catch (e) {
      this.#log.warn("could not change the PreferNoSchedule taint", { on, error: String(e) });
    }
  }

  async cordon(signal?: AbortSignal): Promise<void> {
    await this.pending(true);
    await setNodeLabels(this.#kube, this.#node, this.#c.preRebootNodeLabels);
    if (this.#c.drainDelay > 0 && !this.#kube.dryRun) {
      this.#log.info("waiting --drain-delay before cordoning", { ms: this.#c.drainDelay });
      await sleep(this.#c.drainDelay, signal);
    }
    const { wasUnschedulable } = await cordon(this.#kube, this.#node);
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
    const r = await drain(this.#kube, this.#node, {
      log: this.#log,
      gracePeriodSeconds: this.#c.drainGracePeriod,
      timeoutMs: this.#c.drainTimeout,
      skipWaitForDeleteTimeoutSeconds: this.#c.skipWaitForDeleteTimeout,
      podSelector: this.#c.drainPodSelector,
      signal,
      onEviction: (result) => this.#hooks.onEviction?.(result),
    });
    this.#hooks.onDrained?.((performance.now() - t0) / 1000, r.ok);
    if (r.ok) {
      this.#log.info("drained the node", { evicted: r.evicted, deleted: r.deleted, ms: r.durationMs });
      return { ok: true };
    }
    return { ok: false, error: r.timedOut ? `drain timed out: ${r.reason}` : r.reason };
  }

  async uncordon(): Promise<void> {
    await restoreAfterReboot(this.#kube, this.#node, {
      taint: this.#c.preferNoScheduleTaint,
      postRebootLabels: this.#c.postRebootNodeLabels,
    });
  }

  async retreat(): Promise<void> {
    await retreat(this.#kube, this.#node, {
      taint: this.#c.preferNoScheduleTaint,
      preRebootLabels: this.#c.preRebootNodeLabels,
    }, this.#log);
  }
}
