/**
 * The reboot lock: per node group, N `coordination.k8s.io/v1` Leases used as a counting semaphore (N set by
 * `--concurrency` and the group's budgets), with `--max-concurrency-total` as a second semaphore across
 * groups, a fair queue of the waiting nodes, and a pause. A node that needs no reboot never calls into this
 * module.
 *
 * The lock is split by job: the pure Lease codec (slots.ts), which Leases make up the lock (groups.ts), the
 * queue entries (queue_entry.ts, queue.ts), what this node has seen and when (observer.ts) and what it makes
 * of it (view.ts), the pure plan of whose turn it is (plan.ts), the request and the refusals (acquire.ts), the
 * compare-and-swap writes (cas.ts), how this node reads and watches the lock (sight.ts, watch.ts) and waits
 * (wait.ts), the pause (pause.ts), the storage port and its API-server implementation (store.ts,
 * kube_store.ts), and the slot keeper that renews and guards a held slot (keeper.ts). This facade is what the
 * loop and the CLI use.
 */
import type { Budget } from "../budget/mod.ts";
import type { Concurrency } from "../config/mod.ts";
import type { Kube } from "../kube/mod.ts";
import type { Logger } from "../log.ts";
import { type AcquireRequest, type AcquireResult, contenderFor, needsNodeCount, refusal } from "./acquire.ts";
import { HeldSlots, type HolderState } from "./holding.ts";
import { LockLayout } from "./groups.ts";
import { KubeLeaseStore } from "./kube_store.ts";
import { pause as writePause, type PauseState, resume as deletePause } from "./pause.ts";
import { type Contender, HEAD_OF_LINE, type Plan, plan } from "./plan.ts";
import { dropEntry, joinQueue, leaveQueue, passOver } from "./queue.ts";
import type { SlotRecord } from "./slots.ts";
import { LeaseConflict, type LeaseStore } from "./store.ts";
import { type LockView, type SlotView } from "./view.ts";
import { INITIAL_STATE_MS, LockSight, type LostRace } from "./sight.ts";
import { waitForTurn } from "./wait.ts";
import type { WakeReason } from "./watch.ts";

export { LostSlotError } from "./cas.ts";
export { SlotKeeper } from "./keeper.ts";
export type { AcquireRequest, AcquireResult } from "./acquire.ts";
export type { HolderState } from "./holding.ts";
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
  /** `--group-label`; "" (the default) = all nodes are one group with today's slot names. */
  groupLabel?: string;
  budgets?: readonly Budget[];
  /** `--max-concurrency-total`; 0 (the default) = no cap across groups. */
  maxConcurrencyTotal?: number;
  /** How long the next in line has to take a free slot before the node behind it may go instead. */
  queueGraceMs?: number;
  /** How long a first try waits for its watches' initial state before it lists and reads (sight.ts). */
  initialStateMs?: number;
  /** Told how many slots this node's group may use and uses, whenever the node looks (for the metrics). */
  onGroupSlots?: (g: GroupSlots) => void;
  /** Local clock (ms), injectable for tests. */
  now?: () => number;
}

export interface GroupSlots {
  /** The group's label value ("" for the nodes without it, and for the one group without --group-label). */
  group: string;
  allowed: number;
  inUse: number;
}

const MAX_ACQUIRE_ROUNDS = 8;
const QUEUE_GRACE_MS = 5_000;
/** The phase recorded on a total-cap slot: its holder's real phase is on its group's slot. */
const TOTAL_SLOT_PHASE = "total-cap";

type Options =
  & Required<Omit<LockOptions, "log" | "onGroupSlots" | "budgets">>
  & Pick<LockOptions, "onGroupSlots">
  & { log: Logger; budgets: readonly Budget[] };

export class RebootLock {
  readonly #store: LeaseStore;
  readonly #o: Options;
  readonly #layout: LockLayout;
  readonly #view: LockView;
  readonly #slots: HeldSlots;
  readonly #sight: LockSight;
  /** This node's group and place in line, as last asked for. */
  #me: { group: Contender["group"]; requiredSinceMs: number | undefined } | undefined;
  /** The version of this node's passed-over entry its caller was last woken for. */
  #wokeForPass: string | undefined;

  /** On the API server (a `Kube`), or on any LeaseStore (the unit tests' in-memory one). */
  constructor(backend: Kube | LeaseStore, opts: LockOptions) {
    this.#o = {
      now: () => Date.now(),
      groupLabel: "",
      maxConcurrencyTotal: 0,
      queueGraceMs: QUEUE_GRACE_MS,
      initialStateMs: INITIAL_STATE_MS,
      ...opts,
      budgets: opts.budgets ?? [],
    };
    this.#store = "listLeases" in backend ? backend : new KubeLeaseStore(backend, opts);
    this.#layout = new LockLayout(opts.dsName, this.#o.groupLabel);
    this.#sight = new LockSight(
      this.#store,
      this.#o.log,
      { ...this.#o, layout: this.#layout },
      this.#o.initialStateMs,
      () => this.#syncHeld(),
    );
    this.#view = this.#sight.view;
    this.#slots = new HeldSlots(this.#store, this.#view.seen, this.#o, () => this.refresh());
  }

  /** The group slot this node holds. */
  get held(): SlotRecord | undefined {
    return this.#slots.group;
  }

  /** Whether this node has an entry in the queue, as last seen. */
  get queued(): boolean {
    return this.#view.queue.get(this.#o.node) !== undefined;
  }

  /** Reads every slot, the queue and the pause state from the server, refreshing what this observer has seen. */
  refresh(): Promise<void> {
    return this.#sight.refresh();
  }

  /**
   * The slot this node holds according to the server (start-up recovery reads this): one LIST of the Leases;
   * the DaemonSet (pause, node count) is read when a slot is wanted. A total-cap slot held without a group
   * slot is left from an acquisition or release a crash cut short: it is given back.
   */
  async mine(): Promise<SlotRecord | undefined> {
    await this.#sight.readLeases();
    if (this.#slots.total && !this.#slots.group) await this.#slots.giveBackTotal();
    return this.#slots.group;
  }

  /**
   * Whether the slots this node holds still name it, from one read of the Leases (the slot keeper's guard; the
   * daemon may list Leases but not get one). Throws when that cannot be told.
   */
  async stillHeld(): Promise<boolean> {
    if (!this.#slots.group) return false;
    // A dry-run acquisition was never stored: there is nothing to read back.
    if (this.#store.dryRun) return true;
    const total = this.#slots.total !== undefined;
    await this.#sight.readLeases();
    return this.#slots.group !== undefined && (!total || this.#slots.total !== undefined);
  }

  pauseState(): PauseState {
    return this.#view.pauseState();
  }

  /** Every slot of this node's group and the total cap's as seen, with its verdict (holders looked up). */
  view(): Promise<SlotView[]> {
    return this.#view.slots(this.#me?.group, () => true);
  }

  /**
   * Takes a free slot of this node's group if its budget, the total cap and the queue allow it now. Re-entrant:
   * a node that already holds a slot gets it back. Uses the watched state when a watch is running (no extra
   * reads per wake-up), else reads. A node that does not get one is put in line (its queue entry).
   */
  async tryAcquire(state: HolderState, req: AcquireRequest = {}): Promise<AcquireResult> {
    /** The Lease of the last race lost, as this node saw it then. */
    let lost: LostRace | undefined;
    for (let round = 0; round < MAX_ACQUIRE_ROUNDS; round++) {
      // After a lost race only the slots changed: the DaemonSet (pause, node count) was read or is watched.
      if (round > 0) await this.#sight.catchUp(lost);
      else if (!this.#sight.watch?.live) await this.#sight.look();
      if (this.#slots.group) {
        await this.#leave();
        return { acquired: true, slot: this.#slots.group };
      }
      const { me, plan: p } = await this.#plan(req, true);
      const paused = this.pauseState();
      if (paused.paused || p.turn.kind !== "go") {
        await this.#join(me);
        await this.#slots.giveBackTotal();
        if (!paused.paused) return refusal(p, me, this.#o.groupLabel);
        return {
          acquired: false,
          reason: "paused",
          message: `reboots are paused by ${paused.by}: ${paused.reason}`,
        };
      }
      const group = p.groupCandidate;
      if (!group) continue;
      try {
        if (p.totalCandidate) {
          lost = { name: p.totalCandidate.name, resourceVersion: p.totalCandidate.record.resourceVersion };
          this.#slots.total = await this.#slots.take(p.totalCandidate, { phase: TOTAL_SLOT_PHASE });
        }
        const meta = me.group.kind === "all" ? undefined : this.#layout.groupMetadata(me.group);
        lost = { name: group.name, resourceVersion: group.record.resourceVersion };
        const slot = await this.#slots.take(group, state, meta);
        this.#slots.group = slot;
        this.#o.log.info(this.#store.dryRun ? "would take slot (dry run)" : "took slot", {
          slot: slot.name,
          index: group.index,
          ...(me.group.kind === "all" ? {} : { group: me.key }),
        });
        // The next reboot of this node queues afresh; a holder has no use for a waiter's watches.
        this.#me = { ...me, requiredSinceMs: undefined };
        this.stopWatching();
        await this.#leave();
        if (p.turn.jumped.length) {
          await passOver(this.#queueWriter(), this.#view.queue, p.turn.jumped, me.node);
        }
        // A holder whose Node is gone left its entry behind if it was killed before deleting it: remove it too.
        const v = group.view?.verdict;
        if (v?.kind === "orphaned") await dropEntry(this.#queueWriter(), this.#view.queue, v.holder);
        return { acquired: true, slot };
      } catch (e) {
        // Somebody else was faster (or created the Lease first): catch up and look again.
        if (e instanceof LeaseConflict) continue;
        throw new Error(`cannot take slot ${group.name}: ${describe(e)}`);
      }
    }
    await this.#slots.giveBackTotal();
    return {
      acquired: false,
      reason: "full",
      message: "lost every race for a slot; will retry on the next change",
    };
  }

  /** Takes this node out of the queue (its reboot is no longer required). */
  async leaveQueue(): Promise<void> {
    await this.#leave();
  }

  /**
   * This node's place and group (from `req` and what it knew) and its plan from what it sees now. `fresh`
   * (an acquisition) counts the group's nodes when a percentage needs them and looks up the holders of the
   * slots it could take; otherwise nothing is requested.
   */
  async #plan(req: AcquireRequest, fresh: boolean, lookUp = fresh): Promise<{ me: Contender; plan: Plan }> {
    const mine = this.#view.queue.get(this.#o.node);
    const base = contenderFor(this.#o.node, this.#o.groupLabel, req, {
      ...(this.#me ? { group: this.#me.group } : {}),
      ...(this.#me?.requiredSinceMs !== undefined ? { requiredSinceMs: this.#me.requiredSinceMs } : {}),
      ...(mine ? { entrySinceMs: mine.requiredSinceMs } : {}),
    }, this.#o.now());
    this.#me = base;
    const policy = { concurrency: this.#o.concurrency, budgets: this.#o.budgets };
    const count = needsNodeCount(policy, base.group);
    const groupNodes = !count
      ? 0
      : fresh
      ? await this.#view.groupNodes(base.group, this.#o.groupLabel)
      : this.#view.knownGroupNodes(base.group) ?? 0;
    const me = { ...base, groupNodes };
    const planFrom = async (lookUp: boolean) =>
      plan({
        now: this.#o.now(),
        me,
        policy,
        groupLabel: this.#o.groupLabel,
        cap: this.#o.maxConcurrencyTotal,
        paused: this.pauseState().paused,
        slots: await this.#view.slots(
          me.group,
          (v) => lookUp && (v.role.set === "total" || (v.role.set === "group" && v.role.key === me.key)),
        ),
        entries: this.#view.queue.all(),
        graceMs: this.#o.queueGraceMs,
        unchangedSince: this.#view.changedAt,
        slotName: (i) => this.#layout.slotName(me.group, i),
        totalSlotName: (i) => this.#layout.totalSlotName(i),
      });
    // Holders are looked up (a Node read each, unless watched) only where it can matter: to take a slot whose
    // holder seems gone or silent, or for the first in line, whom a holder found gone would let go. A node
    // further back would stay in line whatever it found: with thousands waiting, that is most of them. A first
    // try (no watch on the holders yet) leaves them to the wait that follows it (lib/lock/wait.ts), which
    // judges them from watches on their Nodes: in a rush of first tries every node is first in an empty line.
    let p = await planFrom(false);
    const watching = !fresh || (this.#sight.watch?.watchesNodes ?? false);
    const head = watching && p.turn.kind !== "go" && p.position <= HEAD_OF_LINE;
    if (lookUp && (unverified(p) || head)) {
      p = await planFrom(true);
    }
    this.#o.onGroupSlots?.({
      group: me.group.kind === "value" ? me.group.value : "",
      allowed: p.admission.allowance.allowed,
      inUse: p.inUse,
    });
    return { me, plan: p };
  }

  /** Records the holder's phase, release deadline or evictions; LostSlotError when the slot is not this node's any more. */
  update(
    fields: { phase?: string; releaseAfter?: Date | null; bootId?: string; evicted?: string | null },
  ): Promise<SlotRecord> {
    return this.#slots.update(fields);
  }

  /** Tells other nodes the holder is alive (only meaningful with --lock-ttl). */
  renew(): Promise<void> {
    return this.#slots.renew();
  }

  /**
   * Frees this node's slots: the total-cap slot first, so that a crash in between leaves the group slot, whose
   * recorded phase makes the restarted node finish the release. Releasing a slot that is not ours is a no-op,
   * never a steal.
   */
  async release(): Promise<void> {
    const held = this.#slots.group ?? (await this.mine());
    await this.#slots.giveBackTotal();
    await this.#leave();
    if (held) await this.#slots.releaseGroup(held);
  }

  #queueWriter() {
    return { store: this.#store, namespace: this.#o.namespace, dsName: this.#o.dsName, log: this.#o.log };
  }

  async #join(me: Contender): Promise<void> {
    const { groupNodes, ...rest } = me;
    await joinQueue(this.#queueWriter(), this.#view.queue, {
      ...rest,
      groupLabel: this.#o.groupLabel,
      ...(groupNodes > 0 ? { groupNodes } : {}),
    });
  }

  async #leave(): Promise<void> {
    await leaveQueue(this.#queueWriter(), this.#view.queue, this.#o.node);
  }

  /** Blocks new acquisitions cluster-wide; nodes that hold a slot finish. */
  async pause(by: string, reason: string): Promise<void> {
    await writePause(this.#store, this.#o, by, reason, new Date(this.#o.now()));
  }

  async resume(): Promise<void> {
    await deletePause(this.#store, this.#o.dsName);
  }

  /**
   * Waits until it may be this node's turn: it is next in line for a free slot of its group (a slot freed or
   * deleted, a holder Node deleted or silent past the TTL, a budget changing, the nodes ahead leaving the
   * line), the ones ahead let their turn go by, or the pause is set or lifted. Opens the watches on first use;
   * `stopWatching()` closes them when the node no longer waits.
   */
  waitForChance(signal: AbortSignal, maxMs: number): Promise<WakeReason> {
    return waitForTurn(
      {
        watch: this.#sight.watchToWait(),
        now: this.#o.now,
        cap: this.#o.maxConcurrencyTotal > 0,
        plan: (lookUp) => this.#plan({}, false, lookUp).then((r) => r.plan),
        paused: () => this.pauseState().paused,
        holding: () => this.#slots.group !== undefined,
        passedOver: () => {
          // Once per mark: if putting the entry back fails, the node must not spin on it.
          const entry = this.#view.queue.get(this.#o.node);
          if (entry?.passedOverBy === undefined || entry.resourceVersion === this.#wokeForPass) return false;
          this.#wokeForPass = entry.resourceVersion;
          return true;
        },
      },
      signal,
      maxMs,
    );
  }

  stopWatching(): void {
    this.#sight.stop();
  }

  #syncHeld(): void {
    const seen = this.#view.seen;
    this.#slots.sync(
      seen.mine((name) => this.#view.roleOf(name)?.set !== "total"),
      seen.mine((name) => this.#view.roleOf(name)?.set === "total"),
    );
  }
}

/** Whether the plan would take a slot judged without looking its holder up (silent or gone as far as seen). */
function unverified(p: Plan): boolean {
  if (p.turn.kind !== "go") return false;
  return [p.groupCandidate, p.totalCandidate].some((c) =>
    c?.view !== undefined && c.view.verdict.kind !== "free"
  );
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
