/**
 * observe -> decide -> act. The loop gathers only what the current phase needs (an idle node reads its
 * sentinel and nothing else, so it sends no API requests), asks the pure machine what to do, performs at most
 * one action through a port, persists the phase on the Lease while it holds a slot, and waits as told.
 */
import type { GateResult } from "./gates/gate.ts";
import { LostSlotError } from "./lock.ts";
import type { AcquireResult, HolderState } from "./lock.ts";
import type { Logger } from "./log.ts";
import { sleep } from "./sleep.ts";
import {
  type Action,
  type ActionResult,
  decide,
  type Decision,
  type HeldSlot,
  HOLDING_PHASES,
  initialState,
  type MachineConfig,
  type NodeObs,
  type Observation,
  type Outcome,
  type Phase,
  type Report,
  type SentinelObs,
  type State,
} from "./machine/mod.ts";

/** The lock as the loop uses it (RebootLock implements it). */
export interface LockPort {
  mine(): Promise<HeldSlotRecord | undefined>;
  readonly held: HeldSlotRecord | undefined;
  tryAcquire(state: HolderState): Promise<AcquireResult>;
  update(fields: { phase?: string; releaseAfter?: Date | null }): Promise<unknown>;
  renew(): Promise<void>;
  release(): Promise<void>;
  waitForChance(signal: AbortSignal, maxMs: number): Promise<"changed" | "timeout" | "aborted">;
  stopWatching(): void;
}

export interface HeldSlotRecord {
  name: string;
  phase?: string;
  bootId?: string;
  releaseAfter?: Date;
}

export interface NodeState extends NodeObs {
  unschedulable: boolean;
}

/** Everything the loop touches outside itself. */
export interface Ports {
  sentinel(): Promise<SentinelObs>;
  /** Every gate in order (window, alerts, blocking pods, drain pre-flight); the first that blocks wins. */
  gates(): Promise<GateResult>;
  node(): Promise<NodeState>;
  daemonPodsReady(): Promise<boolean>;
  lock: LockPort;
  /** Pre-reboot labels, taint, cordon (only if schedulable). */
  cordon(): Promise<void>;
  /** Drain delay, then the drain; resolves with an error message on failure. */
  drain(signal: AbortSignal): Promise<{ ok: true } | { ok: false; error: string }>;
  reboot(): Promise<void>;
  describeReboot(): string;
  /** Uncordon if kreboot cordoned, post-reboot labels, remove taint. */
  uncordon(): Promise<void>;
  /** Undo a cordon kreboot made, the taint and pre-reboot labels, after a failed drain. */
  retreat(): Promise<void>;
  report(report: Report, phase: Phase): void;
  /** Called on every phase change, for metrics. */
  phaseChanged?(phase: Phase): void;
  /**
   * Resolves when the sentinel may have changed (a file watch), so a node whose sentinel appears does not
   * wait for the next period. Optional: without it, the period alone paces sentinel checks.
   */
  sentinelChanged?(signal: AbortSignal): Promise<void>;
}

export interface LoopOptions {
  machine: MachineConfig;
  periodMs: number;
  /** `--lock-ttl` in ms: the holder renews every third of it while it holds a slot. */
  lockTtlMs: number;
  once: boolean;
  log: Logger;
  now?: () => number;
  random?: () => number;
}

/**
 * Phases in which the node is being disrupted on the strength of its slot but has not rebooted yet. If the slot
 * disappears meanwhile (its Lease deleted, or taken by another node), going on would disrupt one node more than
 * the concurrency allows, so the loop checks the slot every `SLOT_GUARD_MS` and retreats as soon as it is gone.
 */
const GUARDED_PHASES: ReadonlySet<Phase> = new Set(["cordoning", "draining", "reboot-delay"]);
const SLOT_GUARD_MS = 3_000;

/** Exit codes of a `--once` pass (documented in the README). */
export const ONCE_EXIT = { nothingToDo: 0, wouldReboot: 10, blocked: 11 } as const;

export class RebootLoop {
  #p: Ports;
  #o: LoopOptions;
  #state: State;
  #firstPeriod = true;
  #renewTimer: ReturnType<typeof setInterval> | undefined;
  #guardTimer: ReturnType<typeof setInterval> | undefined;
  /** Aborted when the slot guard finds the slot gone while in a guarded phase. */
  #slotLost = new AbortController();
  #wouldReboot = false;
  #blocked = false;

  constructor(ports: Ports, opts: LoopOptions) {
    this.#p = ports;
    this.#o = opts;
    this.#state = initialState(this.#now());
  }

  get phase(): Phase {
    return this.#state.phase;
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }

  /** Runs until the signal aborts (or one pass with --once). Returns the process exit code. */
  async run(signal: AbortSignal): Promise<number> {
    let result: ActionResult | undefined;
    try {
      while (!signal.aborted) {
        if (this.#slotLost.signal.aborted && GUARDED_PHASES.has(this.#state.phase)) {
          // Whatever the last action returned, it ran without a slot: undo it rather than go on.
          this.#lostSlot(this.#slotLost.signal.reason as LostSlotError);
          result = undefined;
        }
        const obs = result ? { now: this.#now(), result } : await this.#observe(this.#state.phase, signal);
        if (signal.aborted) break;
        const d = decide(this.#state, obs, this.#o.machine);
        await this.#enter(d);
        const held = GUARDED_PHASES.has(this.#state.phase)
          ? AbortSignal.any([signal, this.#slotLost.signal])
          : signal;
        result = d.action ? await this.#act(d.action, held) : undefined;
        if (d.action) continue;
        if (this.#o.once && (d.wait.kind === "period" || d.wait.kind === "lock")) break;
        await this.#wait(d, held);
      }
    } finally {
      this.#stopGuard();
      this.#stopRenewing();
      this.#p.lock.stopWatching();
    }
    // The --once codes describe one pass; a daemon stopped by a signal exits 0 whatever it was doing.
    if (!this.#o.once) return 0;
    if (this.#wouldReboot) return ONCE_EXIT.wouldReboot;
    return this.#blocked ? ONCE_EXIT.blocked : ONCE_EXIT.nothingToDo;
  }

  async #enter(d: Decision): Promise<void> {
    const before = this.#state.phase;
    this.#state = d.state;
    const phase = d.state.phase;
    if (phase !== before) {
      // The quick first sentinel check is for a fresh start only; after any cycle the full period applies.
      if (phase !== "idle") this.#firstPeriod = false;
      this.#o.log.setPhase(phase);
      this.#p.phaseChanged?.(phase);
      if (before === "waiting") this.#p.lock.stopWatching();
    }
    if (d.report) {
      if (d.report.reason === "RebootBlocked") this.#blocked = true;
      this.#p.report(d.report, phase);
    }
    if (phase !== before) {
      if (HOLDING_PHASES.has(phase) && this.#p.lock.held) {
        await this.#persistPhase(phase);
      }
      if (HOLDING_PHASES.has(this.#state.phase)) this.#startRenewing();
      else this.#stopRenewing();
      if (GUARDED_PHASES.has(this.#state.phase)) this.#startGuard();
      else this.#stopGuard();
    }
  }

  async #persistPhase(phase: Phase): Promise<void> {
    try {
      await this.#p.lock.update({ phase });
    } catch (e) {
      if (e instanceof LostSlotError) return this.#lostSlot(e);
      // Not fatal: the phase on the Lease only speeds up a resume; the next write retries.
      this.#o.log.warn("could not record the phase on the slot Lease", { error: String(e) });
    }
  }

  #lostSlot(e: LostSlotError): void {
    this.#o.log.error("lost the slot while holding it; undoing the cordon", { error: e.message });
    this.#state = { phase: "retreating", since: this.#now(), rebootAttempts: 0, failure: e.message };
    this.#o.log.setPhase("retreating");
  }

  async #observe(phase: Phase, signal: AbortSignal): Promise<Observation> {
    const obs: Observation = { now: this.#now() };
    switch (phase) {
      case "startup": {
        const [slot, node] = await Promise.all([this.#p.lock.mine(), this.#p.node()]);
        obs.slot = slot ? heldSlot(slot) : null;
        obs.node = node;
        break;
      }
      case "idle":
        obs.sentinel = await this.#p.sentinel();
        break;
      case "required":
      case "waiting":
      case "cordoning":
        obs.sentinel = await this.#p.sentinel();
        if (obs.sentinel.required && !obs.sentinel.error && !signal.aborted) obs.gate = await this.#p.gates();
        break;
      case "recovering": {
        const node = await this.#p.node();
        obs.node = node;
        if (node.ready) {
          obs.daemonPodsReady = await this.#p.daemonPodsReady();
          obs.sentinel = await this.#p.sentinel();
        }
        break;
      }
      case "release-delay": {
        const held = this.#p.lock.held;
        obs.slot = held ? heldSlot(held) : null;
        break;
      }
    }
    obs.now = this.#now();
    return obs;
  }

  async #act(action: Action, signal: AbortSignal): Promise<ActionResult> {
    const fail = (e: unknown) => (e instanceof Error ? e.message : String(e));
    switch (action.type) {
      case "acquire": {
        try {
          const node = await this.#p.node();
          const state: HolderState = { phase: "cordoning", wasUnschedulable: node.unschedulable };
          if (node.bootId) state.bootId = node.bootId;
          const r = await this.#p.lock.tryAcquire(state);
          return r.acquired
            ? { action: "acquire", acquired: true }
            : { action: "acquire", acquired: false, reason: r.reason, message: r.message };
        } catch (e) {
          return {
            action: "acquire",
            acquired: false,
            reason: "full",
            message: `cannot reach the lock: ${fail(e)}`,
          };
        }
      }
      case "cordon":
        return await attempt("cordon", () => this.#p.cordon());
      case "drain": {
        try {
          const r = await this.#p.drain(signal);
          return r.ok ? { action: "drain", ok: true } : { action: "drain", ok: false, error: r.error };
        } catch (e) {
          return { action: "drain", ok: false, error: fail(e) };
        }
      }
      case "reboot": {
        if (this.#o.machine.dryRun) {
          this.#o.log.info(`would run: ${this.#p.describeReboot()}`);
          this.#wouldReboot = true;
          return { action: "reboot", ok: true };
        }
        this.#o.log.info(`running: ${this.#p.describeReboot()}`);
        return await attempt("reboot", () => this.#p.reboot());
      }
      case "uncordon":
        return await attempt("uncordon", () => this.#p.uncordon());
      case "retreat":
        return await attempt("retreat", () => this.#p.retreat());
      case "release":
        return await attempt("release", () => this.#p.lock.release());
      case "set-release-after": {
        try {
          await this.#p.lock.update({ releaseAfter: new Date(action.at) });
          return { action: "set-release-after", ok: true, at: action.at };
        } catch (e) {
          return { action: "set-release-after", ok: false, at: action.at, error: fail(e) };
        }
      }
    }
  }

  async #wait(d: Decision, signal: AbortSignal): Promise<void> {
    switch (d.wait.kind) {
      case "none":
        return;
      case "ms":
        return await sleep(d.wait.ms, signal);
      case "period": {
        const untilMs = d.wait.untilMs;
        const periodMs = untilMs === undefined
          ? this.#periodMs()
          : Math.min(this.#periodMs(), Math.max(0, untilMs - this.#now()) + 1_000);
        const watch = this.#p.sentinelChanged;
        if (!watch || d.state.phase !== "idle") return await sleep(periodMs, signal);
        const both = new AbortController();
        const stop = () => both.abort();
        signal.addEventListener("abort", stop, { once: true });
        try {
          await Promise.race([sleep(periodMs, both.signal), watch(both.signal)]);
        } finally {
          both.abort();
          signal.removeEventListener("abort", stop);
        }
        return;
      }
      case "lock": {
        const r = await this.#p.lock.waitForChance(signal, this.#o.periodMs);
        if (r === "timeout") this.#o.log.info("no change in the lock for a period; checking again");
        return;
      }
    }
  }

  /** The first sentinel check comes within seconds of start-up; later ones every period, jittered by 10%. */
  #periodMs(): number {
    const r = this.#o.random?.() ?? Math.random();
    if (this.#firstPeriod) {
      this.#firstPeriod = false;
      return Math.floor(r * Math.min(5_000, this.#o.periodMs));
    }
    return Math.floor(this.#o.periodMs * (0.9 + 0.2 * r));
  }

  #startRenewing(): void {
    if (this.#renewTimer !== undefined || this.#o.lockTtlMs <= 0 || this.#o.machine.dryRun) return;
    const every = Math.max(1_000, Math.floor(this.#o.lockTtlMs / 3));
    this.#renewTimer = setInterval(() => {
      if (!this.#p.lock.held) return;
      this.#p.lock.renew().catch((e) => this.#o.log.warn("could not renew the slot", { error: String(e) }));
    }, every);
  }

  /** Checks, while in a guarded phase, that the slot is still ours (see GUARDED_PHASES). */
  #startGuard(): void {
    if (this.#guardTimer !== undefined || this.#o.machine.dryRun) return;
    if (this.#slotLost.signal.aborted) this.#slotLost = new AbortController();
    const lost = this.#slotLost;
    let checking = false;
    this.#guardTimer = setInterval(async () => {
      if (checking || lost.signal.aborted) return;
      checking = true;
      try {
        const mine = await this.#p.lock.mine();
        if (mine === undefined && this.#guardTimer !== undefined && GUARDED_PHASES.has(this.#state.phase)) {
          this.#o.log.error(
            "the slot is gone (its Lease was deleted or taken); stopping and undoing the cordon",
          );
          lost.abort(new LostSlotError("(gone)", ""));
        }
      } catch {
        // Cannot tell (the API server is away): keep going; the next write finds out for sure.
      } finally {
        checking = false;
      }
    }, SLOT_GUARD_MS);
  }

  #stopGuard(): void {
    if (this.#guardTimer !== undefined) clearInterval(this.#guardTimer);
    this.#guardTimer = undefined;
  }

  #stopRenewing(): void {
    if (this.#renewTimer !== undefined) clearInterval(this.#renewTimer);
    this.#renewTimer = undefined;
  }
}

async function attempt<A extends "cordon" | "reboot" | "uncordon" | "retreat" | "release">(
  action: A,
  fn: () => Promise<void>,
): Promise<Outcome<A>> {
  try {
    await fn();
    return { action, ok: true };
  } catch (e) {
    return { action, ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

function heldSlot(r: HeldSlotRecord): HeldSlot {
  const s: HeldSlot = {};
  if (r.phase !== undefined) s.phase = r.phase;
  if (r.bootId !== undefined) s.bootId = r.bootId;
  if (r.releaseAfter !== undefined) s.releaseAfter = r.releaseAfter.getTime();
  return s;
}
