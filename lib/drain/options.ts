/** What a drain (lib/drain/run.ts) is told and what it answers. */
import type { Logger } from "../log.ts";
import type { DrainBlocker } from "./blockers.ts";
import type { Pod } from "./pods.ts";

export type EvictionResult = "evicted" | "deleted" | "retry-429" | "failed";

export interface DrainOptions {
  log: Logger;
  /** `--drain-grace-period` in seconds; negative = each pod's own terminationGracePeriodSeconds. */
  gracePeriodSeconds: number;
  /** `--drain-timeout` in ms; 0 = no limit. */
  timeoutMs: number;
  /** `--skip-wait-for-delete-timeout` in seconds; 0 = wait for every pod. */
  skipWaitForDeleteTimeoutSeconds: number;
  /** `--drain-pod-selector`; "" = every pod. */
  podSelector: string;
  /**
   * The node's pods as listed moments ago with the same selector (the pre-flight's, right before the cordon),
   * instead of a list of the drain's own. A pod bound since then is found by the first wait-poll and drained
   * like any late pod.
   */
  pods?: readonly Pod[];
  /** Stops the drain (daemon shutdown); the result then says `ok: false`. */
  signal?: AbortSignal;
  /** Called once per eviction/delete outcome, for metrics. */
  onEviction?: (result: EvictionResult) => void;
  /** Most API requests in flight at once; default 20. */
  maxInFlight?: number;
  /** Floor of the wait before re-asking after a 429; default 5 s (tests may not lower what users rely on). */
  minRetryMs?: number;
  /** How often the pods still terminating are listed; default 1 s. */
  pollIntervalMs?: number;
  /**
   * The drain is over only on a clean list sent at least this long after it began; default 2 s. A scheduler
   * that chose this node before it saw the cordon binds the pod a moment later (found by the chaos runs:
   * bound 0.5 s after the cordon, after the drain's clean list), so a list right after the cordon proves little.
   */
  settleMs?: number;
  /** How often progress is logged at most, and the pods that block the drain reported; default 5 s. */
  progressIntervalMs?: number;
  /**
   * `--drain-disable-eviction-after` in ms; 0 = never. A pod whose eviction is still refused (a PDB, an
   * admission denial, a terminating namespace) this long into the drain is deleted instead, bypassing PDBs.
   */
  disableEvictionAfterMs?: number;
  /**
   * Called with the pods the drain is about to evict, before the first eviction (the post-reboot health gate
   * records what they belong to). If it throws, nothing is evicted and the drain fails with its message.
   */
  beforeEvicting?: (pods: readonly Pod[]) => Promise<void>;
  /** The pods that hold the drain up now, each with its cause; [] once none does (see lib/drain/blocked.ts). */
  onBlocked?: (blockers: readonly DrainBlocker[]) => void;
  /** A pod was deleted instead of evicted (`disableEvictionAfterMs`); `why` says what refused its eviction. */
  onDeletedInstead?: (pod: string, why: string) => void;
  now?: () => Date;
}

export type DrainResult =
  | { ok: true; evicted: number; deleted: number; durationMs: number }
  | { ok: false; reason: string; timedOut: boolean; remaining: string[] };
