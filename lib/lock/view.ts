/**
 * What this node knows of the lock, and its verdict on every slot: the slots as observed (observer.ts), the
 * pause in either form (pause.ts), how many slots there are, and whether each holder's Node still exists. Fed
 * by reads (`readLeases`, `readDaemonSet`) and by a waiting node's watch events; judges without I/O except
 * for a holder Node it has not seen yet.
 */
import type { Concurrency } from "../config/mod.ts";
import { SlotObserver } from "./observer.ts";
import {
  decodeDaemonSetPause,
  decodePauseLease,
  effectivePause,
  NOT_PAUSED,
  type PauseState,
} from "./pause.ts";
import {
  decodeSlot,
  pauseLeaseName,
  resolveConcurrency,
  slotIndex,
  slotName,
  type SlotRecord,
  type SlotVerdict,
} from "./slots.ts";
import type { LeaseStore } from "./store.ts";

export interface SlotView {
  index: number;
  record: SlotRecord;
  verdict: SlotVerdict;
}

export interface LockViewOptions {
  namespace: string;
  dsName: string;
  lockAnnotation: string;
  concurrency: Concurrency;
  ttlMs: number;
  node: string;
  now: () => number;
  /** Whether a watch on this Node is open (then what it said about the Node is current). */
  watchingNode: (name: string) => boolean;
  /** Whether that watch delivered an event since it started, waiting at most `maxMs` for one (watch.ts). */
  nodeHeard: (name: string, maxMs: number) => Promise<boolean>;
}

/** How long a judgement waits for a new watch on a holder Node to say whether the Node exists. */
const NODE_WATCH_ANSWER_MS = 1_000;

export class LockView {
  readonly #store: LeaseStore;
  readonly #o: LockViewOptions;
  readonly #seen: SlotObserver;
  readonly #holderExists = new Map<string, boolean>();
  #leasePause: PauseState = NOT_PAUSED;
  #dsPause: PauseState = NOT_PAUSED;
  #daemonNodes: number | undefined;
  /** The resourceVersion of the last list: a watch started from it misses nothing. */
  listResourceVersion = "";

  constructor(store: LeaseStore, o: LockViewOptions) {
    this.#store = store;
    this.#o = o;
    this.#seen = new SlotObserver({ me: o.node, ttlMs: o.ttlMs, now: o.now });
  }

  get seen(): SlotObserver {
    return this.#seen;
  }

  /** One LIST of the lock's Leases: the slots and `kreboot pause`. A failure leaves this node blind. */
  async readLeases(): Promise<void> {
    let list;
    try {
      list = await this.#store.listLeases();
    } catch (e) {
      this.#seen.blind();
      throw e;
    }
    this.listResourceVersion = list.resourceVersion;
    const records: SlotRecord[] = [];
    let leasePause = NOT_PAUSED;
    for (const lease of list.items) {
      const rec = decodeSlot(lease);
      if (rec.name === pauseLeaseName(this.#o.dsName)) leasePause = decodePauseLease(lease);
      else if (slotIndex(this.#o.dsName, rec.name) !== undefined) records.push(rec);
    }
    this.#seen.replaceAll(records);
    this.#leasePause = leasePause;
  }

  /** kured's manual lock and the node count, from the DaemonSet. */
  async readDaemonSet(): Promise<void> {
    // A percentage is resolved against the node count of the moment: forget the last one.
    this.#daemonNodes = undefined;
    this.#applyDaemonSet(await this.#store.readDaemonSet());
  }

  pauseState(): PauseState {
    return effectivePause(this.#leasePause, this.#dsPause);
  }

  /** How many slots there are now (a percentage is resolved against the nodes that run the daemon). */
  async capacity(): Promise<number> {
    if (this.#o.concurrency.kind === "count") return resolveConcurrency(this.#o.concurrency, 0);
    this.#daemonNodes ??= await this.#store.countNodes();
    return resolveConcurrency(this.#o.concurrency, this.#daemonNodes);
  }

  /** Every slot index below capacity plus any held leftover above it, with this observer's verdict. */
  async view(): Promise<SlotView[]> {
    const n = await this.capacity();
    const views: SlotView[] = [];
    const names = new Set<string>([...Array(n).keys()].map((i) => slotName(this.#o.dsName, i)));
    for (const name of this.#seen.names()) names.add(name);
    for (const name of names) {
      const index = slotIndex(this.#o.dsName, name) ?? -1;
      const record = this.#seen.get(name) ??
        { name, resourceVersion: "", holder: "", transitions: 0, problems: [] };
      if (index >= n && record.holder === "") continue;
      views.push({ index, record, verdict: await this.#judge(record) });
    }
    return views.sort((a, b) => a.index - b.index);
  }

  /** Is some slot below capacity not held by another node? */
  async someSlotOpen(): Promise<boolean> {
    const n = await this.capacity();
    return (await this.view()).some((v) => v.index >= 0 && v.index < n && v.verdict.kind !== "held");
  }

  /** A watch event on the lock's Leases; true when it may let this node take a slot. */
  onLeaseEvent(type: string, obj: unknown): boolean {
    const rec = decodeSlot(obj);
    if (rec.name === pauseLeaseName(this.#o.dsName)) {
      const before = this.pauseState().paused;
      this.#leasePause = type === "DELETED" ? NOT_PAUSED : decodePauseLease(obj);
      return before && !this.pauseState().paused;
    }
    if (slotIndex(this.#o.dsName, rec.name) === undefined) return false;
    if (type === "DELETED") {
      this.#seen.forget(rec.name);
      return true;
    }
    this.#seen.observe(rec);
    return rec.holder === "";
  }

  /** A watch event on the DaemonSet; true when it lifted a pause. */
  onDaemonSet(obj: unknown): boolean {
    const before = this.pauseState().paused;
    this.#applyDaemonSet(obj);
    return before && !this.pauseState().paused;
  }

  /** A watch event on a holder's Node; true when the Node is gone (its slot is free). */
  onNodeEvent(type: string, name: string): boolean {
    this.#holderExists.set(name, type !== "DELETED");
    return type === "DELETED";
  }

  #applyDaemonSet(ds: unknown): void {
    if (ds === undefined) {
      this.#dsPause = NOT_PAUSED;
      return;
    }
    const desired = (ds as { status?: { desiredNumberScheduled?: unknown } }).status?.desiredNumberScheduled;
    if (typeof desired === "number" && desired > 0) this.#daemonNodes = desired;
    this.#dsPause = decodeDaemonSetPause(ds, this.#o);
  }

  async #judge(record: SlotRecord): Promise<SlotVerdict> {
    const first = this.#seen.judge(record);
    if (first.kind !== "held" && first.kind !== "expired") return first;
    const v = this.#seen.judge(record, await this.#nodeExists(first.holder));
    if (v.kind !== "expired") return v;
    // Silent past --lock-ttl, but its Node still carries kreboot's cordon: that node is still disrupted (its
    // daemon may be down for a while, e.g. killed during an API server restart), so taking its slot would put
    // one node more out of service than the concurrency allows. It keeps the slot until its daemon comes back
    // (renews, or undoes the cordon at start-up: lib/machine/startup.ts) or its Node is deleted.
    return (await this.#holderCordoned(v.holder)) ? { kind: "held", holder: v.holder } : v;
  }

  async #holderCordoned(name: string): Promise<boolean> {
    try {
      return await this.#store.nodeCordonedByKreboot(name);
    } catch {
      return true; // cannot tell: the safe side for a lock
    }
  }

  async #nodeExists(name: string): Promise<boolean> {
    // A watched holder Node needs no read: its watch begins with the Node as it is and then brings its deletion.
    // Only when the watch says nothing (the Node does not exist, or the watch is slow to start) is it read.
    if (this.#o.watchingNode(name) && await this.#o.nodeHeard(name, NODE_WATCH_ANSWER_MS)) {
      const known = this.#holderExists.get(name);
      if (known !== undefined) return known;
    }
    try {
      const exists = await this.#store.nodeExists(name);
      this.#holderExists.set(name, exists);
      return exists;
    } catch {
      // Cannot tell: assume the holder is alive, the safe side for a lock.
      return true;
    }
  }
}
