/**
 * observe -> decide -> act. The loop gathers only what the current phase needs (an idle node reads its
 * sentinel and what its watch of its own Node holds, so it sends no API requests), asks the pure machine what
 * to do, hands the phase to the slot keeper (which records on the Lease what a restart needs while the node
 * holds a slot), performs at most one action through a port, and waits as told.
 */
import type { GateResult } from "./gates/gate.ts";
import type { FailureKind } from "./safety/breaker.ts";
import type { HealthVerdict } from "./safety/health.ts";
import type { AcquireRequest, AcquireResult, HolderState } from "./lock/mod.ts";
import type { Logger } from "./log.ts";
import { sleep } from "./sleep.ts";
import {
  type Action,
  type ActionResult,
  decide,
  type Decision,
  GUARDED_PHASES,
  type HeldSlot,
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
  /** `req` names the node's labels (its group) and since when its reboot is required (its place in line). */
  tryAcquire(state: HolderState, req?: AcquireRequest): Promise<AcquireResult>;
  /** Whether this node has an entry in the lock's queue. */
  readonly queued: boolean;
  /** Takes this node out of the queue (best effort: a failure is logged, never thrown). */
  leaveQueue(): Promise<void>;
  update(fields: { releaseAfter: Date | null; phase?: string }): Promise<unknown>;
  release(): Promise<void>;
  waitForChance(signal: AbortSignal, maxMs: number): Promise<"changed" | "timeout" | "aborted">;
  stopWatching(): void;
}

/** The slot keeper as the loop uses it (SlotKeeper in lib/lock/keeper.ts implements it). */
export interface KeeperPort {
  /** The current phase, on every iteration, after deciding and before acting. */
  track(phase: Phase): Promise<void>;
  /** Why the slot was found gone while held, if it was. */
  readonly lost: string | undefined;
  /** Aborted when the slot is found gone. */
  readonly lostSignal: AbortSignal;
}

export interface HeldSlotRecord {
  name: string;
  phase?: string;
  bootId?: string;
  releaseAfter?: Date;
}

export interface NodeState extends NodeObs {
  unschedulable: boolean;
  /** The Node's labels: `--group-label` picks the node's group from them. */
  labels?: Record<string, string>;
}

/** Everything the loop touches outside itself. */
export interface Ports {
  sentinel(): Promise<SentinelObs>;
  /** Every gate in order (window, alerts, blocking pods, drain pre-flight); the first that blocks wins. */
  gates(): Promise<GateResult>;
  node(): Promise<NodeState>;
  /** The post-reboot health gate (lib/safety/health.ts), the reboot having been confirmed at `confirmedAtMs`. */
  health(confirmedAtMs: number): Promise<HealthVerdict>;
  /** Puts a failed reboot on the circuit breaker's record; the breaker's pause reason when it is open now. */
  recordFailure(failure: { kind: FailureKind; why: string }): Promise<string | undefined>;
  /**
   * Tells the reboot-loop guard whether the sentinel still asks for a reboot after the confirmed one; what it
   * makes of a reboot loop, if there is one.
   */
  noteReboot(sentinelRequired: boolean | undefined): Promise<string | undefined>;
  lock: LockPort;
  /** Renews and guards the slot while the node holds one; outlives a restart of the loop. */
  keeper: KeeperPort;
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
  /**
   * Resolves when an operator held or unheld the node, or asked for or withdrew its reboot (the node watch of
   * lib/node_control/), so an idle, blocked or waiting node acts on it at once. Optional.
   */
  nodeControlChanged?(signal: AbortSignal): Promise<void>;
}

export interface LoopOptions {
  machine: MachineConfig;
  periodMs: number;
  once: boolean;
  log: Logger;
  now?: () => number;
  random?: () => number;
}

/** Exit codes of a `--once` pass (documented in the README). */
export const ONCE_EXIT = { nothingToDo: 0, wouldReboot: 10, blocked: 11 } as const;

export class RebootLoop {
  #p: Ports;
  #o: LoopOptions;
  #state: State;
  #firstPeriod = true;
  #wouldReboot = false;
  #blocked = false;
  /** The last wait on the lock ended with a change that may free a slot. */
  #lockChanged = false;
  /** When this node's reboot became required (epoch ms): its place in the lock's queue. */
  #requiredSince: number | undefined;

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

  /**
   * Runs until the signal aborts (or one pass with --once). Returns the process exit code. Throws when the API
   * server cannot be reached; the caller may run it again, and it resumes in the phase it was in (the slot
   * keeper kept the slot meanwhile).
   */
  async run(signal: AbortSignal): Promise<number> {
    const keeper = this.#p.keeper;
    let result: ActionResult | undefined;
    try {
      while (!signal.aborted) {
        const obs = result ? { now: this.#now(), result } : await this.#observe(this.#state.phase, signal);
        if (signal.aborted) break;
        if (keeper.lost !== undefined) obs.slotLost = keeper.lost;
        const d = decide(this.#state, obs, this.#o.machine);
        this.#enter(d);
        // No longer required, or held back by a gate: give up the place in line (only a node that has one asks
        // the API server), so the nodes behind it need not wait out its grace (lib/queue). A node held back
        // keeps its `requiredSince`, so it is back in its old place once the gate clears.
        const s = obs.sentinel;
        const notRequired = this.#state.phase === "idle" && s && !s.required && !s.error;
        const heldBack = this.#state.phase === "required" && obs.gate?.clear === false;
        if ((notRequired || heldBack) && this.#p.lock.queued) await this.#p.lock.leaveQueue();
        await keeper.track(this.#state.phase);
        const guarded = GUARDED_PHASES.has(this.#state.phase);
        if (guarded && keeper.lost !== undefined) {
          // Found gone as the phase was recorded: decide sees it next, before anything is done without a slot.
          result = undefined;
          continue;
        }
        const held = guarded ? AbortSignal.any([signal, keeper.lostSignal]) : signal;
        result = d.action ? await this.#act(d.action, held) : undefined;
        if (d.action) continue;
        if (this.#o.once && (d.wait.kind === "period" || d.wait.kind === "lock")) break;
        await this.#wait(d, held);
      }
    } finally {
      this.#p.lock.stopWatching();
    }
    // The --once codes describe one pass; a daemon stopped by a signal exits 0 whatever it was doing.
    if (!this.#o.once) return 0;
    if (this.#wouldReboot) return ONCE_EXIT.wouldReboot;
    return this.#blocked ? ONCE_EXIT.blocked : ONCE_EXIT.nothingToDo;
  }

  #enter(d: Decision): void {
    const before = this.#state.phase;
    this.#state = d.state;
    const phase = d.state.phase;
    if (phase !== before) {
      // The quick first sentinel check is for a fresh start only; after any cycle the full period applies.
      if (phase !== "idle") this.#firstPeriod = false;
      this.#o.log.setPhase(phase);
      // Most phases are not recorded on the slot Lease (lib/machine/startup.ts): the log says where a node stands.
      this.#o.log.info("phase changed", { from: before });
      this.#p.phaseChanged?.(phase);
      // The watches are opened by the first try in `required` and serve the wait.
      if (before === "waiting" || (before === "required" && phase !== "waiting")) this.#p.lock.stopWatching();
      if (phase === "idle") this.#requiredSince = undefined;
      else if (phase === "required" || phase === "waiting") this.#requiredSince ??= d.state.since;
    }
    if (d.report) {
      if (d.report.reason === "RebootBlocked" || d.report.blockReason === "reboot-loop") this.#blocked = true;
      this.#p.report(d.report, phase);
    }
  }

  async #observe(phase: Phase, signal: AbortSignal): Promise<Observation> {
    const obs: Observation = { now: this.#now() };
    const lockChanged = this.#lockChanged;
    this.#lockChanged = false;
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
        if (phase === "waiting" && lockChanged) {
          // Woken by the lock: the slot first, the gates in cordoning (lib/machine/waiting.ts).
          obs.lockChanged = true;
          break;
        }
        if (obs.sentinel.required && !obs.sentinel.error && !signal.aborted) obs.gate = await this.#p.gates();
        break;
      case "recovering": {
        obs.health = await this.#p.health(this.#state.since);
        // The guard hears about the sentinel once the gate is passed (or timed out).
        if (obs.health.state !== "waiting") obs.sentinel = await this.#p.sentinel();
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
          const r = await this.#p.lock.tryAcquire(state, {
            ...(node.labels ? { labels: node.labels } : {}),
            ...(this.#requiredSince !== undefined ? { requiredSinceMs: this.#requiredSince } : {}),
          });
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
      case "record-failure": {
        try {
          const opened = await this.#p.recordFailure({ kind: action.kind, why: action.why });
          return { action: "record-failure", ok: true, ...(opened === undefined ? {} : { opened }) };
        } catch (e) {
          return { action: "record-failure", ok: false, error: fail(e) };
        }
      }
      case "note-reboot": {
        try {
          const loop = await this.#p.noteReboot(action.sentinelRequired);
          return { action: "note-reboot", ok: true, ...(loop === undefined ? {} : { loop }) };
        } catch (e) {
          return { action: "note-reboot", ok: false, error: fail(e) };
        }
      }
      case "set-release-after": {
        try {
          // The phase goes in the same write: a restart then resumes the delay (lib/machine/startup.ts).
          await this.#p.lock.update({ releaseAfter: new Date(action.at), phase: this.#state.phase });
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
        await this.#wakeable(d.state.phase, signal, (s) => sleep(periodMs, s));
        return;
      }
      case "lock": {
        const r = await this.#wakeable(
          d.state.phase,
          signal,
          (s) => this.#p.lock.waitForChance(s, this.#o.periodMs),
        );
        // Woken by the operators' hold or request instead (undefined): the gates come first then.
        this.#lockChanged = r === "changed";
        if (r === "timeout") this.#o.log.info("no change in the lock for a period; checking again");
        return;
      }
    }
  }

  /**
   * Runs `wait`, cut short when something this phase reacts to changes: in idle the sentinel file, and before
   * a slot (idle, required, waiting) the operators' hold and request. Resolves with `wait`'s result, or
   * undefined when cut short.
   */
  async #wakeable<T>(
    phase: Phase,
    signal: AbortSignal,
    wait: (signal: AbortSignal) => Promise<T>,
  ): Promise<T | undefined> {
    const wakers: ((s: AbortSignal) => Promise<void>)[] = [];
    if (phase === "idle" && this.#p.sentinelChanged) wakers.push(this.#p.sentinelChanged);
    if ((phase === "idle" || phase === "required" || phase === "waiting") && this.#p.nodeControlChanged) {
      wakers.push(this.#p.nodeControlChanged);
    }
    if (wakers.length === 0) return await wait(signal);
    const both = new AbortController();
    const stop = () => both.abort();
    signal.addEventListener("abort", stop, { once: true });
    try {
      return await Promise.race([
        wait(both.signal),
        ...wakers.map((w) => w(both.signal).then(() => undefined)),
      ]);
    } finally {
      both.abort();
      signal.removeEventListener("abort", stop);
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
