/**
 * The circuit breaker's I/O (the judgement is lib/safety/breaker.ts). Its failure record is an annotation of
 * the Lease `<ds-name>-breaker`, labelled like the slot and pause Leases so that the one list the lock and
 * `kreboot status` make finds it (the daemon may list Leases, not get one). Every node appends its own failed
 * reboots with a compare-and-swap patch (409 = re-read and append again). When the record opens the breaker,
 * the node pauses reboots with `kreboot pause`'s own pause (lib/lock/pause.ts), by "circuit-breaker", before
 * it gives its slot back; `kreboot resume` records a reset, so the failures so far stop counting.
 */
import type { Logger } from "../log.ts";
import { sleep } from "../sleep.ts";
import { decodePauseLease, NOT_PAUSED, pause, type PauseState } from "../lock/pause.ts";
import { LOCK_LABEL, pauseLeaseName } from "../lock/slots.ts";
import { LeaseConflict, LeaseNotFound, type LeaseStore } from "../lock/store.ts";
import {
  BREAKER_PAUSED_BY,
  breakerLeaseName,
  decodeFailures,
  encodeFailures,
  type FailureKind,
  type FailureRecord,
  FAILURES_ANNOTATION,
  isBreakerPause,
  judgeBreaker,
  recordFailure,
  resetBreaker,
} from "./breaker.ts";

export interface BreakerOptions {
  namespace: string;
  dsName: string;
  /** This node: the failures it records are its own. */
  node: string;
  /** `--max-failed-reboots`; 0 = off (nothing is recorded). */
  maxFailed: number;
  /** `--failure-window`. */
  windowMs: number;
  log: Logger;
  now?: () => number;
}

/** Conflicts in a row a write sits out before it gives up until the caller's next try. */
const MAX_ATTEMPTS = 8;

interface Read {
  /** The breaker Lease's resourceVersion; undefined when it does not exist yet. */
  resourceVersion: string | undefined;
  record: FailureRecord;
  pause: PauseState;
}

export class CircuitBreaker {
  readonly #store: LeaseStore;
  readonly #o: BreakerOptions;

  constructor(store: LeaseStore, opts: BreakerOptions) {
    this.#store = store;
    this.#o = opts;
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }

  get #name(): string {
    return breakerLeaseName(this.#o.dsName);
  }

  /**
   * Records a failed reboot of this node. When the breaker is open after it, reboots are paused (unless a
   * person paused them already: their pause and reason stay) and the breaker's reason is returned.
   */
  async record(failure: { kind: FailureKind; why: string }): Promise<string | undefined> {
    if (this.#o.maxFailed <= 0) return undefined;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const read = await this.#read();
      const nowMs = this.#now();
      const settings = { nowMs, windowMs: this.#o.windowMs };
      const next = recordFailure(read.record, { node: this.#o.node, atMs: nowMs, ...failure }, settings);
      if (!(await this.#write(read, next))) continue;
      const verdict = judgeBreaker(next, { ...settings, maxFailed: this.#o.maxFailed });
      this.#o.log.warn("failed reboot recorded for the circuit breaker", {
        kind: failure.kind,
        counted: verdict.counted,
        max: this.#o.maxFailed,
      });
      if (!verdict.open) return undefined;
      if (read.pause.paused && !isBreakerPause(read.pause.reason)) {
        this.#o.log.warn(
          "the circuit breaker is open, and reboots are paused already; leaving that pause as it is",
          {
            pausedBy: read.pause.by,
          },
        );
        return verdict.reason;
      }
      await pause(this.#store, this.#o, BREAKER_PAUSED_BY, verdict.reason, new Date(nowMs));
      return verdict.reason;
    }
    throw new Error(`the circuit breaker's Lease ${this.#name} kept changing under us; will retry`);
  }

  /** `kreboot resume`: the failures recorded so far stop counting (the record is kept for status). */
  async reset(): Promise<void> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const read = await this.#read();
      if (read.resourceVersion === undefined) return;
      if (await this.#write(read, resetBreaker(read.record, this.#now()))) return;
    }
    throw new Error(
      `the circuit breaker's Lease ${this.#name} kept changing under us; run kreboot resume again`,
    );
  }

  /** Whether reboots are paused by the circuit breaker now (one list of the lock's Leases). */
  async isOpen(): Promise<boolean> {
    const { pause } = await this.#read();
    return pause.paused && isBreakerPause(pause.reason);
  }

  /**
   * Resolves once the breaker's pause is gone (`kreboot resume`), looking every `everyMs`; a failed look is
   * tried again at the next one. The node that opened the breaker runs it to know when to say it is closed.
   */
  async closed(signal: AbortSignal, everyMs = 30_000): Promise<void> {
    while (!signal.aborted) {
      await sleep(everyMs, signal);
      if (signal.aborted) return;
      try {
        if (!(await this.isOpen())) return;
      } catch {
        // The API server is away: look again later.
      }
    }
  }

  async #read(): Promise<Read> {
    const { items } = await this.#store.listLeases();
    let out: Read = {
      resourceVersion: undefined,
      record: decodeFailures(undefined).record,
      pause: NOT_PAUSED,
    };
    for (const lease of items) {
      const meta = (lease as {
        metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> };
      })
        .metadata;
      if (meta?.name === pauseLeaseName(this.#o.dsName)) out = { ...out, pause: decodePauseLease(lease) };
      if (meta?.name !== this.#name) continue;
      const decoded = decodeFailures(meta.annotations?.[FAILURES_ANNOTATION]);
      for (const p of decoded.problems) this.#o.log.warn(p);
      out = { ...out, resourceVersion: meta.resourceVersion ?? "", record: decoded.record };
    }
    return out;
  }

  /** Writes `next` over what was read; false when someone else wrote first (read again). */
  async #write(read: Read, next: FailureRecord): Promise<boolean> {
    const annotations = { [FAILURES_ANNOTATION]: encodeFailures(next) };
    try {
      if (read.resourceVersion === undefined) {
        await this.#store.createLease({
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: {
            name: this.#name,
            namespace: this.#o.namespace,
            labels: { [LOCK_LABEL]: this.#o.dsName },
            annotations,
          },
          spec: {},
        });
      } else {
        await this.#store.patchLease(this.#name, {
          metadata: { resourceVersion: read.resourceVersion, annotations },
        });
      }
      return true;
    } catch (e) {
      // Written by someone else first, or deleted meanwhile: read again.
      if (e instanceof LeaseConflict || e instanceof LeaseNotFound) return false;
      throw e;
    }
  }
}
