/**
 * The watches a waiting node keeps open: the lock's Leases, the DaemonSet (kured's manual lock) and the Node of
 * each holder. A node waiting for a slot wakes within moments of a release, a pause being lifted or a holder
 * Node being deleted, instead of once per period. Each watch that the server ends is restarted with backoff.
 * The Lease watch resumes from the last resourceVersion it saw, as client-go's reflector does, so that no
 * event is missed and no list is needed; only when the server no longer has that version (410 Gone) are the
 * Leases listed again. (A list of the lock's Leases grows with the queue: a thousand waiters re-listing after
 * every hiccup of the API server would be a storm of their own.)
 *
 * A node's first try opens the Lease and DaemonSet watches with their current state streamed first (`initial`,
 * a "watch list": https://kubernetes.io/docs/reference/using-api/api-concepts/#streaming-lists), and that
 * state stands in for a list of the Leases and a read of the DaemonSet; a node that has to wait then waits on
 * the same two watches. Until a watch says its initial state is complete (`synced`), its events are held back
 * and handed over whole, so that they replace what this node read before instead of adding to it.
 */
import { resourceVersionOf } from "../kube/mod.ts";
import type { Logger } from "../log.ts";
import {
  InitialStateRefused,
  type LeaseStore,
  WatchExpired,
  type WatchHandle,
  type WatchTarget,
} from "./store.ts";

export interface WatchHandlers {
  /** Each returns true when the event may let this node take a slot. */
  lease(type: string, obj: unknown): boolean;
  daemonSet(obj: unknown): boolean;
  node(type: string, name: string, obj: unknown): boolean;
  /** The Lease watch ended: until the next successful read, this node does not see the slots. */
  lostSight(): void;
  /** The Lease watch resumed where it broke off: this node sees the slots again. */
  regainedSight(): void;
  /** Reads the slots again (when the Lease watch cannot resume); the resourceVersion of that read. */
  resync(): Promise<string>;
  /** The Lease watch's initial state (asked for with `initial`): it replaces what was read before. */
  leasesSynced?(items: readonly unknown[], resourceVersion: string): void;
  /** The DaemonSet watch's initial state: the DaemonSet, or undefined when it does not exist. */
  daemonSetSynced?(obj: unknown): void;
}

/** How a LockWatch starts: from a list's resourceVersion, or with the current state streamed first. */
export type WatchStart = { listResourceVersion: string } | "initial";

/** The outcome of waiting for the initial state: it came, the server cannot send one, or it did not come. */
export type SyncResult = "synced" | "refused" | "failed";

export type WakeReason = "changed" | "timeout" | "aborted";

interface Entry {
  handle?: WatchHandle;
  restart?: ReturnType<typeof setTimeout> | undefined;
  /** For a watch asked for its initial state: the objects it sent so far, until `synced`. */
  initial?: unknown[];
}

const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

export class LockWatch {
  readonly #store: LeaseStore;
  readonly #log: Logger;
  readonly #h: WatchHandlers;
  readonly #entries = new Map<string, Entry>();
  readonly #nodes = new Set<string>();
  /** Per watched holder Node: whether its watch delivered an event since it (re)started, and who waits for one. */
  readonly #nodeHeard = new Map<string, { heard: boolean; waiters: Set<() => void> }>();
  #pending = false;
  #wake: (() => void) | undefined;
  #closed = false;
  /** True while the Lease watch is open: the slots as seen are current. */
  live = false;
  /** The last resourceVersion of the lock's Leases this watch saw ("" = none: list again before watching). */
  #leaseRv: string;
  /** With an initial state asked for: the watches still to send theirs, and who waits for them. */
  readonly #unsynced = new Set<string>();
  #syncFailure: SyncResult | undefined;
  readonly #syncWaiters = new Set<() => void>();

  /**
   * Opens the Lease and DaemonSet watches: the Leases from the resourceVersion of a list (nothing missed since),
   * or both with their current state streamed first (`initial`), which then stands in for the list and the read
   * (`synced`).
   */
  constructor(store: LeaseStore, log: Logger, start: WatchStart, h: WatchHandlers) {
    this.#store = store;
    this.#log = log;
    this.#h = h;
    const initial = start === "initial";
    this.#leaseRv = initial ? "" : start.listResourceVersion;
    if (initial) {
      this.#unsynced.add("leases");
      this.#unsynced.add("daemonset");
    }
    this.#startLeases(FIRST_BACKOFF_MS, false, initial);
    this.#start(
      "daemonset",
      { kind: "daemonset", ...(initial ? { initial } : {}) },
      (_type, obj) => h.daemonSet(obj),
    );
  }

  /**
   * Resolves once both watches sent their initial state ("synced"), or when one of them cannot ("refused": the
   * server streams none, or sent objects without saying when they end; "failed": it ended, or nothing came
   * within `maxMs`). Only for an `initial` start.
   */
  synced(maxMs: number): Promise<SyncResult> {
    const now = (): SyncResult | undefined =>
      this.#syncFailure ?? (this.#unsynced.size === 0 ? "synced" : undefined);
    const ready = now();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => {
      const done = () => {
        const r = now();
        if (!r) return;
        clearTimeout(timer);
        this.#syncWaiters.delete(done);
        resolve(r);
      };
      const timer = setTimeout(() => {
        this.#syncWaiters.delete(done);
        // Objects came but never the end of them: a server before Kubernetes 1.27 ignores the request and
        // sends a plain watch's ADDED events. Nothing at all may be a slow server: tried again next time.
        const plain = [...this.#entries.values()].some((e) => (e.initial?.length ?? 0) > 0);
        resolve(now() ?? (plain ? "refused" : "failed"));
      }, maxMs);
      this.#syncWaiters.add(done);
    });
  }

  #syncChanged(): void {
    for (const wake of [...this.#syncWaiters]) wake();
  }

  /** Whether any holder Node is watched (this node is at the head of its line). */
  get watchesNodes(): boolean {
    return this.#nodes.size > 0;
  }

  watchingNode(name: string): boolean {
    return this.#nodes.has(name) && this.#entries.has(`node/${name}`);
  }

  /**
   * Resolves true once the watch on this holder Node has delivered an event since it (re)started, false when
   * none came within `maxMs` or the Node is not watched. A watch without a resourceVersion begins with the
   * object as it is (an ADDED event), so within moments it says whether the Node exists; only a Node that does
   * not exist sends nothing.
   */
  nodeHeard(name: string, maxMs: number): Promise<boolean> {
    const state = this.#nodeHeard.get(name);
    if (!state || !this.watchingNode(name)) return Promise.resolve(false);
    if (state.heard) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (heard: boolean) => {
        clearTimeout(timer);
        state.waiters.delete(wake);
        resolve(heard);
      };
      const wake = () => done(true);
      const timer = setTimeout(() => done(false), maxMs);
      state.waiters.add(wake);
    });
  }

  /** Watches exactly these holder Nodes (a deleted holder frees its slot at once). */
  watchNodes(names: string[]): void {
    const want = new Set(names);
    for (const name of this.#nodes) {
      if (want.has(name)) continue;
      this.#nodes.delete(name);
      this.#stop(`node/${name}`);
      this.#nodeHeard.delete(name);
    }
    for (const name of want) {
      if (this.#nodes.has(name)) continue;
      this.#nodes.add(name);
      this.#start(`node/${name}`, { kind: "node", name }, (type, obj) => {
        const chance = this.#h.node(type, name, obj);
        const state = this.#nodeHeard.get(name);
        if (state && !state.heard) {
          state.heard = true;
          for (const wake of [...state.waiters]) wake();
        }
        return chance;
      });
    }
  }

  /** Resolves on the next event that may free a slot (or one that came since the last call). */
  next(signal: AbortSignal, maxMs: number): Promise<WakeReason> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve("changed");
    }
    return new Promise((resolve) => {
      const finish = (r: WakeReason) => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        this.#wake = undefined;
        this.#pending = false;
        resolve(r);
      };
      const onAbort = () => finish("aborted");
      const timer = setTimeout(
        () => finish("timeout"),
        Number.isFinite(maxMs) ? Math.max(0, maxMs) : 2 ** 31 - 1,
      );
      signal.addEventListener("abort", onAbort, { once: true });
      this.#wake = () => finish("changed");
      if (signal.aborted) finish("aborted");
    });
  }

  close(): void {
    this.#closed = true;
    this.live = false;
    for (const key of [...this.#entries.keys()]) this.#stop(key);
    this.#wake?.();
  }

  #signal(): void {
    if (this.#wake) this.#wake();
    else this.#pending = true;
  }

  /** Forgets a watch before stopping it, so its end (an abort of our own) is never taken for a failure. */
  #stop(key: string): void {
    const e = this.#entries.get(key);
    this.#entries.delete(key);
    if (e?.restart !== undefined) clearTimeout(e.restart);
    e?.handle?.stop();
  }

  /**
   * The Lease watch, from the last resourceVersion seen; without one (or when it expired) after a new list.
   * `resumed` says the watch picks up where a broken one left off: on opening, this node sees again.
   */
  #startLeases(backoffMs: number, resumed = false, initial = false): void {
    const from = this.#leaseRv;
    this.#start(
      "leases",
      { kind: "leases", ...(from ? { resourceVersion: from } : {}), ...(initial ? { initial } : {}) },
      (type, obj) => {
        this.#leaseRv = resourceVersionOf(obj) ?? this.#leaseRv;
        return type !== "BOOKMARK" && this.#h.lease(type, obj);
      },
      backoffMs,
      resumed,
    );
  }

  #start(
    key: string,
    target: WatchTarget,
    handle: (type: string, obj: unknown) => boolean,
    backoffMs = FIRST_BACKOFF_MS,
    resumed = false,
  ): void {
    if (this.#closed) return;
    // A (re)started watch on a holder Node has said nothing yet (waiters of the previous one time out).
    if (target.kind === "node") this.#nodeHeard.set(target.name, { heard: false, waiters: new Set() });
    const startedAt = Date.now();
    const entry: Entry = {};
    const initial = target.kind !== "node" && target.initial === true;
    if (initial) entry.initial = [];
    this.#entries.set(key, entry);
    const current = () => !this.#closed && this.#entries.get(key) === entry;
    entry.handle = this.#store.watch(target, {
      open: () => {
        if (!current() || key !== "leases" || initial) return;
        this.live = true;
        if (resumed) this.#h.regainedSight();
      },
      synced: (rv) => {
        if (!current() || !entry.initial) return;
        const items = entry.initial;
        delete entry.initial;
        if (key === "leases") {
          if (rv !== "") this.#leaseRv = rv;
          this.#h.leasesSynced?.(items, rv);
          this.live = true;
        } else this.#h.daemonSetSynced?.(items.at(-1));
        this.#unsynced.delete(key);
        this.#syncChanged();
      },
      event: (type, obj) => {
        // The initial state is handed over whole, when it is complete.
        if (entry.initial) {
          if (type === "ADDED") entry.initial.push(obj);
          return;
        }
        // A bookmark only carries a resourceVersion: the Lease watch keeps it, the others have no use for it.
        if (type === "BOOKMARK" && key !== "leases") return;
        if (current() && handle(type, obj)) this.#signal();
      },
      end: (err) => {
        if (!current()) return;
        if (entry.initial) {
          // It never sent its initial state: the caller lists and reads instead (and closes this watch).
          this.#syncFailure ??= err instanceof InitialStateRefused ? "refused" : "failed";
          this.#syncChanged();
          if (err) {
            this.#log.info("watch ended before its initial state", { watch: key, error: describe(err) });
          }
          return;
        }
        if (key === "leases") {
          this.live = false;
          this.#h.lostSight();
          // The server no longer has the version to resume from: list again first.
          if (err instanceof WatchExpired) this.#leaseRv = "";
        }
        // A watch that ran for a while restarts quickly; one that keeps failing backs off.
        const wait = Date.now() - startedAt > MAX_BACKOFF_MS
          ? FIRST_BACKOFF_MS
          : Math.min(backoffMs * 2, MAX_BACKOFF_MS);
        if (err) {
          this.#log.warn("watch ended; restarting", { watch: key, error: describe(err), inMs: wait });
        }
        entry.restart = setTimeout(() => {
          entry.restart = undefined;
          if (!current()) return;
          if (key !== "leases") {
            // A Node or the DaemonSet: a watch without a resourceVersion starts with their current state.
            this.#signal();
            return this.#start(key, target, handle, wait);
          }
          if (this.#leaseRv !== "") return this.#startLeases(wait, true);
          // Events were missed: re-read, then wake the waiter to look.
          this.#h.resync().then((rv) => (this.#leaseRv = rv), () => {}).finally(() => {
            if (!current()) return;
            this.#signal();
            this.#startLeases(wait);
          });
        }, wait);
      },
    });
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
