/**
 * The cluster-wide reboot lock: N `coordination.k8s.io/v1` Leases used as a counting semaphore, plus a pause.
 * A node that needs no reboot never calls into this module.
 *
 * The lock is split by job: the pure Lease codec (slots.ts), what this node has seen and when (observer.ts)
 * and what it makes of it (view.ts), the compare-and-swap writes (cas.ts), the watches of a waiting node
 * (watch.ts), the pause (pause.ts), the storage port and its API-server implementation (store.ts,
 * kube_store.ts), and the slot keeper that renews and guards a held slot (keeper.ts). This facade is what the
 * loop and the CLI use.
 */
import type { Kube } from "../kube/mod.ts";
import type { Logger } from "../log.ts";
import { sleep } from "../sleep.ts";
import { LostSlotError, patchHeldSlot } from "./cas.ts";
import { KubeLeaseStore } from "./kube_store.ts";
import { pause as writePause, type PauseState, resume as deletePause } from "./pause.ts";
import {
  acquirePatch,
  type Concurrency,
  decodeSlot,
  microTimeString,
  newSlotLease,
  releasePatch,
  SLOT_ANNOTATIONS,
  type SlotRecord,
} from "./slots.ts";
import { LeaseConflict, type LeaseStore } from "./store.ts";
import { LockView, type SlotView } from "./view.ts";
import { LockWatch, type WakeReason } from "./watch.ts";

export { LostSlotError } from "./cas.ts";
export { SlotKeeper } from "./keeper.ts";
export type { PauseState } from "./pause.ts";
export type { LeaseStore } from "./store.ts";
export type { SlotRecord } from "./slots.ts";
export type { SlotView } from "./view.ts";

export interface LockOptions {
  namespace: string;
  dsName: string;
  /** kured's lock annotation on the DaemonSet; set by hand, it pauses kreboot too. */
  lockAnnotation: string;
  concurrency: Concurrency;
  /** `--lock-ttl` in ms; 0 = a holder is never considered silent. */
  ttlMs: number;
  node: string;
  log: Logger;
  /** Local clock (ms) and randomness, injectable for tests. */
  now?: () => number;
  random?: () => number;
  /** Upper bound of the random delay before a woken waiter retries (against a thundering herd). */
  wakeJitterMs?: number;
}

export interface HolderState {
  phase: string;
  bootId?: string;
  wasUnschedulable?: boolean;
}

export type AcquireResult =
  | { acquired: true; slot: SlotRecord }
  | { acquired: false; reason: "paused" | "full"; message: string };

const MAX_ACQUIRE_ROUNDS = 8;

export class RebootLock {
  readonly #store: LeaseStore;
  readonly #o: Required<Omit<LockOptions, "log">> & { log: Logger };
  readonly #view: LockView;
  #held: SlotRecord | undefined;
  #watch: LockWatch | undefined;

  /** On the API server (a `Kube`), or on any LeaseStore (the unit tests' in-memory one). */
  constructor(backend: Kube | LeaseStore, opts: LockOptions) {
    this.#o = { now: () => Date.now(), random: Math.random, wakeJitterMs: 300, ...opts };
    this.#store = "listLeases" in backend ? backend : new KubeLeaseStore(backend, opts);
    this.#view = new LockView(this.#store, {
      ...this.#o,
      watchingNode: (name) => this.#watch?.watchingNode(name) ?? false,
      nodeHeard: (name, maxMs) => this.#watch?.nodeHeard(name, maxMs) ?? Promise.resolve(false),
    });
  }

  get held(): SlotRecord | undefined {
    return this.#held;
  }

  /** Reads every slot and the pause state from the server, refreshing what this observer has seen. */
  async refresh(): Promise<void> {
    await this.#view.readLeases();
    await this.#view.readDaemonSet();
    this.#syncHeld();
  }

  /**
   * The slot this node holds according to the server (start-up recovery reads this): one LIST of the Leases;
   * the DaemonSet (pause, node count) is read when a slot is wanted.
   */
  async mine(): Promise<SlotRecord | undefined> {
    await this.#readLeases();
    return this.#held;
  }

  async #readLeases(): Promise<void> {
    await this.#view.readLeases();
    this.#syncHeld();
  }

  /**
   * Whether the slot this node holds still names it, from one read of the slot Leases (the slot keeper's
   * guard; the daemon may list Leases but not get one). Throws when that cannot be told.
   */
  async stillHeld(): Promise<boolean> {
    if (!this.#held) return false;
    // A dry-run acquisition was never stored: there is nothing to read back.
    if (this.#store.dryRun) return true;
    await this.#view.readLeases();
    this.#syncHeld();
    return this.#held !== undefined;
  }

  capacity(): Promise<number> {
    return this.#view.capacity();
  }

  pauseState(): PauseState {
    return this.#view.pauseState();
  }

  view(): Promise<SlotView[]> {
    return this.#view.view();
  }

  /**
   * Takes a free slot if there is one and reboots are not paused. Re-entrant: a node that already holds a slot
   * gets it back. Uses the watched state when a watch is running (no extra reads per wake-up), else reads.
   */
  async tryAcquire(state: HolderState): Promise<AcquireResult> {
    for (let round = 0; round < MAX_ACQUIRE_ROUNDS; round++) {
      // After a lost race only the slots changed: the DaemonSet (pause, node count) was read or is watched.
      if (round > 0) await this.#readLeases();
      else if (!this.#watch?.live) await this.refresh();
      if (this.#held) return { acquired: true, slot: this.#held };
      const paused = this.pauseState();
      if (paused.paused) {
        return {
          acquired: false,
          reason: "paused",
          message: `reboots are paused by ${paused.by}: ${paused.reason}`,
        };
      }
      // A waiting node watches the holders' Nodes anyway: a new holder is judged from its watch, not a read.
      this.#watch?.watchNodes(this.#view.seen.otherHolders());
      const views = await this.#view.view();
      const n = await this.#view.capacity();
      const busy = views.filter((v) => v.verdict.kind === "held");
      if (busy.length >= n) {
        return {
          acquired: false,
          reason: "full",
          message: `all ${n} slot(s) held by ${busy.map((v) => describeHolder(v.record)).join(", ")}`,
        };
      }
      const candidate = views.find((v) => v.index >= 0 && v.index < n && v.verdict.kind !== "held");
      if (!candidate) return { acquired: false, reason: "full", message: `no free slot among ${n}` };
      this.#explainTakeover(candidate);
      try {
        const slot = await this.#take(candidate.record, state);
        this.#o.log.info(this.#store.dryRun ? "would take slot (dry run)" : "took slot", {
          slot: slot.name,
          index: candidate.index,
        });
        return { acquired: true, slot };
      } catch (e) {
        // Somebody else was faster (or created the Lease first): re-read and look again.
        if (e instanceof LeaseConflict) continue;
        throw new Error(`cannot take slot ${candidate.record.name}: ${describe(e)}`);
      }
    }
    return {
      acquired: false,
      reason: "full",
      message: "lost every race for a slot; will retry on the next change",
    };
  }

  #explainTakeover(candidate: SlotView): void {
    const v = candidate.verdict;
    if (v.kind === "orphaned" || v.kind === "expired") {
      this.#o.log.warn("taking over a slot whose holder is gone or silent", {
        slot: candidate.record.name,
        holder: v.holder,
        why: v.kind === "orphaned" ? "holder Node does not exist" : "holder silent past --lock-ttl",
      });
    }
    if (candidate.record.problems.length) {
      this.#o.log.warn("repairing a slot Lease with unreadable holder fields", {
        slot: candidate.record.name,
        problems: candidate.record.problems,
      });
    }
  }

  /** Writes this node as the holder of `record` (as read): a create, or a patch carrying its resourceVersion. */
  async #take(record: SlotRecord, state: HolderState): Promise<SlotRecord> {
    const fields = {
      holder: this.#o.node,
      ...state,
      ...(this.#o.ttlMs > 0 ? { leaseDurationSeconds: Math.max(1, Math.ceil(this.#o.ttlMs / 1000)) } : {}),
      transitions: record.transitions,
      now: new Date(this.#o.now()),
    };
    const written = record.resourceVersion === ""
      ? await this.#store.createLease(newSlotLease(this.#o.namespace, this.#o.dsName, record.name, fields))
      : await this.#store.patchLease(record.name, acquirePatch(record.resourceVersion, fields));
    return this.#remember(decodeSlot(written), record.resourceVersion);
  }

  /**
   * Keeps what a write returned as the held slot. A dry run stores nothing: the slot is remembered with the
   * resourceVersion of the real Lease (`storedRv`, "" when there is none), so that later writes are validated
   * against it, or skipped.
   */
  #remember(written: SlotRecord, storedRv: string): SlotRecord {
    this.#held = this.#store.dryRun
      ? { ...written, resourceVersion: storedRv }
      : this.#view.seen.observe(written);
    return this.#held;
  }

  /**
   * Updates what the holder records (phase, release deadline). If the slot turns out to belong to someone else,
   * LostSlotError says so and the caller must stop disrupting the node.
   */
  async update(
    fields: { phase?: string; releaseAfter?: Date | null; bootId?: string; evicted?: string | null },
  ): Promise<SlotRecord> {
    const annotations: Record<string, string | null> = {};
    if (fields.evicted !== undefined) annotations[SLOT_ANNOTATIONS.evicted] = fields.evicted;
    if (fields.phase !== undefined) annotations[SLOT_ANNOTATIONS.phase] = fields.phase;
    if (fields.bootId !== undefined) annotations[SLOT_ANNOTATIONS.bootId] = fields.bootId;
    if (fields.releaseAfter !== undefined) {
      annotations[SLOT_ANNOTATIONS.releaseAfter] = fields.releaseAfter
        ? fields.releaseAfter.toISOString()
        : null;
    }
    return await this.#writeHeld((rv) => ({
      metadata: { resourceVersion: rv, annotations },
      spec: { renewTime: microTimeString(new Date(this.#o.now())) },
    }));
  }

  /** Tells other nodes the holder is alive (only meaningful with --lock-ttl). */
  async renew(): Promise<void> {
    await this.#writeHeld((rv) => ({
      metadata: { resourceVersion: rv },
      spec: { renewTime: microTimeString(new Date(this.#o.now())) },
    }));
  }

  async #writeHeld(body: (rv: string) => Record<string, unknown>): Promise<SlotRecord> {
    const mine = this.#held;
    if (!mine) throw new LostSlotError("(none)", "");
    // A dry-run acquisition of a slot that did not exist was never stored: there is nothing to patch.
    if (this.#store.dryRun && mine.resourceVersion === "") return mine;
    const out = await patchHeldSlot(this.#store, this.#source(), body);
    if (out.kind === "gone") {
      this.#held = undefined;
      throw new LostSlotError(out.slot, out.holder);
    }
    return this.#remember(decodeSlot(out.lease), out.slot.resourceVersion);
  }

  /** Frees this node's slot. Releasing a slot that is not ours is a no-op, never a steal. */
  async release(): Promise<void> {
    const held = this.#held ?? (await this.mine());
    if (!held) return;
    if (this.#store.dryRun && held.resourceVersion === "") {
      // Acquired in a dry run where no Lease existed: nothing was created, so there is nothing to give back.
      this.#held = undefined;
      this.#o.log.info("would release slot (dry run)", { slot: held.name });
      return;
    }
    let out;
    try {
      out = await patchHeldSlot(this.#store, this.#source(), (rv) => releasePatch(rv));
    } catch (e) {
      throw new Error(`cannot release slot ${held.name}: ${describe(e)}`);
    }
    this.#held = undefined;
    if (out.kind === "gone") return;
    if (!this.#store.dryRun) this.#view.seen.observe(decodeSlot(out.lease));
    this.#o.log.info(this.#store.dryRun ? "would release slot (dry run)" : "released slot", {
      slot: out.slot.name,
    });
  }

  #source() {
    return {
      held: () => this.#held,
      reread: async () => {
        // What the server says now decides, also for a dry-run acquisition kept only in memory.
        const before = this.#held;
        this.#held = undefined;
        try {
          await this.refresh();
        } catch (e) {
          // Nothing was learnt: keep believing what was known.
          this.#held ??= before;
          throw e;
        }
      },
      holderOf: (name: string) => this.#view.seen.get(name)?.holder ?? "",
    };
  }

  /** Blocks new acquisitions cluster-wide; nodes that hold a slot finish. */
  async pause(by: string, reason: string): Promise<void> {
    await writePause(this.#store, this.#o, by, reason, new Date(this.#o.now()));
  }

  async resume(): Promise<void> {
    await deletePause(this.#store, this.#o.dsName);
  }

  /**
   * Waits until something happens that may let this node take a slot: a slot freed or deleted, a holder Node
   * deleted, a holder falling silent past the TTL, the pause lifted. Then a small random jitter. Opens the
   * watches on first use; `stopWatching()` closes them when the node no longer waits.
   */
  async waitForChance(signal: AbortSignal, maxMs: number): Promise<WakeReason> {
    const view = this.#view;
    this.#watch ??= new LockWatch(this.#store, this.#o.log, view.listResourceVersion, {
      lease: (type, obj) => {
        const chance = view.onLeaseEvent(type, obj);
        this.#syncHeld();
        return chance;
      },
      daemonSet: (obj) => view.onDaemonSet(obj),
      node: (type, name) => view.onNodeEvent(type, name),
      lostSight: () => view.seen.blind(),
      resync: () => this.refresh(),
    });
    const watch = this.#watch;
    const deadline = this.#o.now() + maxMs;
    for (;;) {
      const wasPaused = this.pauseState().paused;
      watch.watchNodes(view.seen.otherHolders());
      let ttlWake = Infinity;
      for (const v of await view.view()) {
        if (v.verdict.kind === "held" && v.verdict.expiresInMs !== undefined) {
          ttlWake = Math.min(ttlWake, v.verdict.expiresInMs + 50);
        }
      }
      const left = Math.max(0, deadline - this.#o.now());
      const result = await watch.next(signal, Math.min(left, ttlWake));
      if (result === "aborted") return result;
      if (result === "timeout" && ttlWake > left) return "timeout";
      await sleep(Math.floor(this.#o.random() * this.#o.wakeJitterMs), signal);
      if (signal.aborted) return "aborted";
      // A new holder's Node is watched before it is judged: the watch tells whether it exists, with no read.
      watch.watchNodes(view.seen.otherHolders());
      // The jitter lets one waiter win while the others see its write arrive on the watch. A waiter that saw
      // every slot taken again keeps waiting: waking the caller would only re-run its gates and reports for a
      // try that cannot succeed (each release cost every waiter ~9 requests; bench/RESULTS.md). A lifted pause
      // always wakes the caller, so what it reports changes from "paused" to the slots. The pause is not looked
      // at here: a slot freed while paused still wakes the caller, whose report then changes to "paused".
      if (result === "changed" && !wasPaused && watch.live && !this.#held && !(await view.someSlotOpen())) {
        continue;
      }
      return "changed";
    }
  }

  stopWatching(): void {
    // A watch that was down when it was closed leaves this node blind until its next successful read; one that
    // was live leaves it not looking until then: either way the holders' silence clocks stop (observer.ts).
    if (this.#watch && !this.#watch.live) this.#view.seen.blind();
    else if (this.#watch) this.#view.seen.lookAway();
    this.#watch?.close();
    this.#watch = undefined;
  }

  #syncHeld(): void {
    const mine = this.#view.seen.mine();
    if (this.#store.dryRun && this.#held && !mine) return; // a dry-run acquisition never persisted
    this.#held = mine;
  }
}

function describeHolder(r: SlotRecord): string {
  return `${r.holder}${r.phase ? ` (${r.phase})` : ""}`;
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
