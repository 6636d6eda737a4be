/**
 * How a node sees the lock: its view (view.ts) and what feeds it, reads (a list of the Leases, a read of the
 * DaemonSet) and the watches of a node that wants a slot (watch.ts).
 *
 * A first try for a slot opens the two watches a waiting node keeps (the lock's Leases and the DaemonSet) with
 * their current state streamed first, and that state stands in for the list and the read: waiting then costs
 * no request of its own. A server that streams no initial state (Kubernetes 1.33 by default refuses it; one
 * before 1.27 sends a plain watch's events without their end) gets the list and the read from then on.
 */
import type { Logger } from "../log.ts";
import { sleep } from "../sleep.ts";
import type { LeaseStore } from "./store.ts";
import { LockView, type LockViewOptions } from "./view.ts";
import { LockWatch, type WatchStart } from "./watch.ts";

/** How long a first try waits for its watches' initial state before it lists and reads instead. */
export const INITIAL_STATE_MS = 5_000;
/** How long a node that lost a race waits for the winner's write on its watch before it lists instead. */
const CATCH_UP_MS = 2_000;
const CATCH_UP_POLL_MS = 20;

/** A slot Lease as this node saw it when it lost the race to write it. */
export interface LostRace {
  name: string;
  resourceVersion: string;
}

export class LockSight {
  readonly view: LockView;
  readonly #store: LeaseStore;
  readonly #log: Logger;
  /** Called after what is seen of the Leases changed (the facade syncs the slots it holds). */
  readonly #onLeases: () => void;
  readonly #initialStateMs: number;
  #watch: LockWatch | undefined;
  /** False once the API server refused to stream a watch's initial state. */
  #streamsInitialState = true;

  constructor(
    store: LeaseStore,
    log: Logger,
    o: Omit<LockViewOptions, "watchingNode" | "nodeHeard">,
    initialStateMs: number,
    onLeases: () => void,
  ) {
    this.#store = store;
    this.#initialStateMs = initialStateMs;
    this.#log = log;
    this.#onLeases = onLeases;
    this.view = new LockView(store, {
      ...o,
      watchingNode: (name) => this.#watch?.watchingNode(name) ?? false,
      nodeHeard: (name, maxMs) => this.#watch?.nodeHeard(name, maxMs) ?? Promise.resolve(false),
    });
  }

  /** The watches, while this node wants a slot. */
  get watch(): LockWatch | undefined {
    return this.#watch;
  }

  /** One list of the Leases. */
  async readLeases(): Promise<void> {
    await this.view.readLeases();
    this.#onLeases();
  }

  /** A list of the Leases and a read of the DaemonSet. */
  async refresh(): Promise<void> {
    await this.view.readLeases();
    await this.view.readDaemonSet();
    this.#onLeases();
  }

  /** What a first try needs (the slots, the queue, the pause, the node count), as the module comment says. */
  async look(): Promise<void> {
    if (!this.#watch && this.#streamsInitialState) {
      this.#watch = this.#open("initial");
      const r = await this.#watch.synced(this.#initialStateMs);
      if (r === "synced") return this.#onLeases();
      if (r === "refused") this.#streamsInitialState = false;
      this.stop();
    }
    await this.refresh();
  }

  /**
   * After a lost race: the winner's write reaches a live Lease watch within moments, so this node waits for it
   * there rather than list the Leases (in a rush of first tries, every loser would); without a watch, or if the
   * write does not show up, it lists.
   */
  async catchUp(lost: LostRace | undefined): Promise<void> {
    const deadline = Date.now() + CATCH_UP_MS;
    while (lost && this.#watch?.live && Date.now() < deadline) {
      if ((this.view.seen.get(lost.name)?.resourceVersion ?? "") !== lost.resourceVersion) return;
      await sleep(CATCH_UP_POLL_MS);
    }
    await this.readLeases();
  }

  /** The watches to wait on: those of the first try, or (after a list) from the list's resourceVersion. */
  watchToWait(): LockWatch {
    this.#watch ??= this.#open({ listResourceVersion: this.view.listResourceVersion });
    return this.#watch;
  }

  /** Closes the watches (the node no longer wants a slot, or holds one). */
  stop(): void {
    // A watch that was down when it was closed leaves this node blind until its next successful read; one that
    // was live leaves it not looking until then: either way the holders' silence clocks stop (observer.ts).
    if (this.#watch && !this.#watch.live) this.view.seen.blind();
    else if (this.#watch) this.view.seen.lookAway();
    this.#watch?.close();
    this.#watch = undefined;
  }

  #open(start: WatchStart): LockWatch {
    const view = this.view;
    return new LockWatch(this.#store, this.#log, start, {
      lease: (type, obj) => {
        const chance = view.onLeaseEvent(type, obj);
        this.#onLeases();
        return chance;
      },
      daemonSet: (obj) => view.onDaemonSet(obj),
      node: (type, name, obj) => view.onNodeEvent(type, name, obj),
      lostSight: () => view.seen.blind(),
      regainedSight: () => view.seen.regainSight(),
      resync: () => this.refresh().then(() => view.listResourceVersion),
      leasesSynced: (items, rv) => {
        view.replaceLeases(items, rv);
        this.#onLeases();
      },
      daemonSetSynced: (obj) => view.replaceDaemonSet(obj),
    });
  }
}
