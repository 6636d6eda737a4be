/**
 * The slot keeper: everything about a held slot's lifetime in one object, as client-go's leader election keeps
 * a lease (https://github.com/kubernetes/client-go/blob/master/tools/leaderelection/leaderelection.go: one loop
 * both renews and notices loss). While the node is in a holding phase it
 *
 * - records on the slot Lease, before the loop acts in it, each new phase that a restarted daemon must tell
 *   apart from the one recorded before (`recordedOnEntering` in lib/machine/startup.ts); the others ride along
 *   with the next renewal, so `kreboot status` follows them with a TTL and no write is spent on them without,
 * - renews the Lease every third of `--lock-ttl` (with a TTL; at once when a restarted daemon picks its slot
 *   up), and retries a failed renewal within seconds, so that renewals resume as soon as the API server is back,
 * - in the guarded phases (GUARDED_PHASES in lib/machine.ts) checks every few seconds that the Lease still
 *   names this node.
 *
 * The loop hands it the current phase on every iteration, so a loop restarted after an error keeps its slot
 * alive and guarded; and the keeper runs between the loop's restarts. It never makes a transition itself: a
 * lost slot is reported through `lost`, which the loop passes to `decide` as an observation, and `lostSignal`,
 * which interrupts the action under way.
 */
import type { Logger } from "../log.ts";
import { GUARDED_PHASES, HOLDING_PHASES, type Phase, recordedOnEntering } from "../machine/mod.ts";
import { LostSlotError } from "./cas.ts";

/** The lock as the keeper uses it (RebootLock implements it). */
export interface KeptLock {
  /** The held slot as last read or written (its recorded phase and boot ID), undefined when none is held. */
  readonly held: { phase?: string; bootId?: string } | undefined;
  update(fields: { phase: string }): Promise<unknown>;
  renew(): Promise<void>;
  /** Whether the held slot still names this node; throws when that cannot be told. */
  stillHeld(): Promise<boolean>;
}

export interface KeeperOptions {
  /** `--lock-ttl` in ms: renew every third of it; 0 = never. */
  ttlMs: number;
  /** A dry run stores no slot: nothing to renew or guard. */
  dryRun: boolean;
  log: Logger;
  /** How often the slot is checked in a guarded phase. */
  guardMs?: number;
  /** How soon a failed renewal is tried again. */
  retryMs?: number;
  now?: () => number;
}

const GUARD_MS = 3_000;
const RETRY_MS = 2_000;

export class SlotKeeper {
  readonly #lock: KeptLock;
  readonly #o: Required<KeeperOptions>;
  #phase: Phase | undefined;
  #lost: string | undefined;
  #lostCtl = new AbortController();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #busy = false;
  #stopped = false;
  #nextRenewAt = 0;
  #nextGuardAt = 0;
  #renewFailures = 0;

  constructor(lock: KeptLock, opts: KeeperOptions) {
    this.#lock = lock;
    this.#o = {
      guardMs: GUARD_MS,
      retryMs: RETRY_MS,
      now: () => Date.now(),
      ...opts,
    };
  }

  /** Why the slot was found gone while held, if it was (until the node leaves its holding phases). */
  get lost(): string | undefined {
    return this.#lost;
  }

  /** Aborted when the slot is found gone: interrupts what the node does on the strength of it. */
  get lostSignal(): AbortSignal {
    return this.#lostCtl.signal;
  }

  /**
   * The loop's current phase, on every iteration, after deciding and before acting. On entering a holding
   * phase that a restart must know about it is recorded on the Lease first, unless the Lease says so already.
   */
  async track(phase: Phase): Promise<void> {
    const before = this.#phase;
    this.#phase = phase;
    if (!HOLDING_PHASES.has(phase)) {
      // Not holding (any more): the next slot starts with a clean record.
      this.#cancel();
      if (this.#lost !== undefined) this.#lostCtl = new AbortController();
      this.#lost = undefined;
      this.#renewFailures = 0;
      return;
    }
    const now = this.#o.now();
    if (before === undefined || !HOLDING_PHASES.has(before)) this.#nextRenewAt = now + this.#renewEveryMs();
    if (GUARDED_PHASES.has(phase) && !(before !== undefined && GUARDED_PHASES.has(before))) {
      this.#nextGuardAt = now + this.#o.guardMs;
    }
    // A daemon that (re)started holding its slot says so at once when holders can fall silent (a TTL): its
    // reboot or restart was silence enough.
    const resumed = before === "startup" && this.#o.ttlMs > 0 && !this.#o.dryRun;
    if (phase !== before && (this.#mustRecord(phase) || (resumed && this.#canWrite()))) {
      await this.#record(phase);
    }
    this.#schedule();
  }

  /** Stops renewing and guarding (the daemon is stopping). */
  stop(): void {
    this.#stopped = true;
    this.#cancel();
  }

  #mustRecord(phase: Phase): boolean {
    const held = this.#lock.held;
    return this.#canWrite() && held !== undefined && recordedOnEntering(phase, held) && held.phase !== phase;
  }

  #canWrite(): boolean {
    return this.#lock.held !== undefined && this.#lost === undefined;
  }

  async #record(phase: Phase): Promise<void> {
    try {
      await this.#lock.update({ phase });
      // The write renewed the Lease too.
      this.#nextRenewAt = this.#o.now() + this.#renewEveryMs();
    } catch (e) {
      if (e instanceof LostSlotError) return this.#markLost(e.message);
      // Not fatal: the phase on the Lease only speeds up a resume; the next write retries.
      this.#o.log.warn("could not record the phase on the slot Lease", { error: describe(e) });
    }
  }

  #renewEveryMs(): number {
    return this.#o.ttlMs > 0 ? Math.max(100, Math.floor(this.#o.ttlMs / 3)) : Infinity;
  }

  /** When the next renewal or check is due, or undefined when none is (no TTL, not guarded, dry run). */
  #nextDue(): number | undefined {
    const phase = this.#phase;
    if (this.#stopped || this.#o.dryRun || phase === undefined || !HOLDING_PHASES.has(phase)) {
      return undefined;
    }
    let due = Infinity;
    if (this.#o.ttlMs > 0) due = this.#nextRenewAt;
    if (GUARDED_PHASES.has(phase) && this.#lost === undefined) due = Math.min(due, this.#nextGuardAt);
    return Number.isFinite(due) ? due : undefined;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#busy) return;
    const due = this.#nextDue();
    if (due === undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#busy = true;
      this.#tick().finally(() => {
        this.#busy = false;
        this.#schedule();
      });
    }, Math.max(0, due - this.#o.now()));
  }

  #cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #tick(): Promise<void> {
    const phase = this.#phase;
    if (this.#stopped || phase === undefined || !HOLDING_PHASES.has(phase)) return;
    if (this.#o.ttlMs > 0 && this.#o.now() >= this.#nextRenewAt && this.#lock.held) await this.#renew();
    if (GUARDED_PHASES.has(phase) && this.#lost === undefined && this.#o.now() >= this.#nextGuardAt) {
      this.#nextGuardAt = this.#o.now() + this.#o.guardMs;
      try {
        if (!(await this.#lock.stillHeld())) {
          this.#markLost("its Lease was deleted or taken by another node");
        }
      } catch {
        // Cannot tell (the API server is away): keep going; the next check or write finds out for sure.
      }
    }
  }

  async #renew(): Promise<void> {
    try {
      // A phase not recorded on entering it goes with the renewal: the same one write.
      const phase = this.#phase;
      if (phase !== undefined && this.#lock.held?.phase !== phase) await this.#lock.update({ phase });
      else await this.#lock.renew();
      if (this.#renewFailures > 0) {
        this.#o.log.info("renewed the slot again", { failedAttempts: this.#renewFailures });
      }
      this.#renewFailures = 0;
      this.#nextRenewAt = this.#o.now() + this.#renewEveryMs();
    } catch (e) {
      if (e instanceof LostSlotError) {
        this.#nextRenewAt = this.#o.now() + this.#renewEveryMs();
        return this.#markLost(e.message);
      }
      // Logged once per outage; tried again within seconds, so renewals resume as soon as the server is back.
      if (this.#renewFailures++ === 0) {
        this.#o.log.warn("could not renew the slot; retrying", { error: describe(e), inMs: this.#o.retryMs });
      }
      this.#nextRenewAt = this.#o.now() + Math.min(this.#o.retryMs, this.#renewEveryMs());
    }
  }

  #markLost(why: string): void {
    if (this.#lost !== undefined) return;
    this.#lost = why;
    const guarded = this.#phase !== undefined && GUARDED_PHASES.has(this.#phase);
    if (guarded) this.#o.log.error(`the slot is gone (${why}); stopping and undoing the cordon`);
    else this.#o.log.warn(`the slot is gone (${why}); finishing without it`);
    this.#lostCtl.abort(new Error(why));
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
