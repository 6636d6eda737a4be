/**
 * What this node knows of the lock, and its verdict on every slot: every group's slots and the total cap's
 * as observed (observer.ts), the queue (queue.ts), the pause in either form (pause.ts), the node counts that
 * percentages are taken of, and whether each holder's Node still exists. Fed by reads (`readLeases`,
 * `readDaemonSet`) and by the watches of a node that wants a slot (their initial state replaces what was read,
 * their events update it); judges without I/O unless told to look a holder up.
 */
import { type Group, groupKey, groupSlotIndex } from "../budget/mod.ts";
import { CORDONED_BY_KREBOOT } from "../drain/node.ts";
import type { LockLayout, SlotRole } from "./groups.ts";
import { SlotObserver } from "./observer.ts";
import {
  decodeDaemonSetPause,
  decodePauseLease,
  effectivePause,
  NOT_PAUSED,
  type PauseState,
} from "./pause.ts";
import { QueueBook } from "./queue.ts";
import { decodeSlot, type SlotRecord, type SlotVerdict } from "./slots.ts";
import type { LeaseStore } from "./store.ts";

export interface SlotView {
  name: string;
  role: SlotRole;
  /** The slot's index in its set; -1 for a foreign slot. */
  index: number;
  record: SlotRecord;
  verdict: SlotVerdict;
}

export interface LockViewOptions {
  layout: LockLayout;
  namespace: string;
  lockAnnotation: string;
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
  readonly #roles = new Map<string, SlotRole>();
  readonly #queue: QueueBook;
  readonly #holderExists = new Map<string, boolean>();
  /** Whether each holder's Node carries kreboot's cordon, as last heard from its watch or read. */
  readonly #holderCordon = new Map<string, boolean>();
  readonly #groupNodes = new Map<string, number>();
  #leasePause: PauseState = NOT_PAUSED;
  #dsPause: PauseState = NOT_PAUSED;
  #daemonNodes: number | undefined;
  /** Local time of the last change to the slots or the line that could change whose turn it is. */
  #changedAt: number;
  /** The resourceVersion of the last list: a watch started from it misses nothing. */
  listResourceVersion = "";

  constructor(store: LeaseStore, o: LockViewOptions) {
    this.#store = store;
    this.#o = o;
    this.#seen = new SlotObserver({ me: o.node, ttlMs: o.ttlMs, now: o.now });
    this.#queue = new QueueBook(o.layout.groupLabel);
    this.#changedAt = o.now();
  }

  get seen(): SlotObserver {
    return this.#seen;
  }

  get queue(): QueueBook {
    return this.#queue;
  }

  /** Since when (local ms) nothing changed that could move the line or free a slot. */
  get changedAt(): number {
    return this.#changedAt;
  }

  /** One LIST of the lock's Leases: the slots, the queue and `kreboot pause`. A failure leaves this node blind. */
  async readLeases(): Promise<void> {
    let list;
    try {
      list = await this.#store.listLeases();
    } catch (e) {
      this.#seen.blind();
      throw e;
    }
    this.replaceLeases(list.items, list.resourceVersion);
  }

  /**
   * Everything about the lock's Leases, replaced by their state at `resourceVersion`: from a list, or from a
   * watch's initial events (lib/lock/watch.ts).
   */
  replaceLeases(items: readonly unknown[], resourceVersion: string): void {
    this.listResourceVersion = resourceVersion;
    const records: SlotRecord[] = [];
    const entries: unknown[] = [];
    let leasePause = NOT_PAUSED;
    this.#roles.clear();
    for (const lease of items) {
      const role = this.#o.layout.classify(lease);
      if (role.role === "pause") leasePause = decodePauseLease(lease);
      else if (role.role === "queue") entries.push(lease);
      else if (role.role === "slot") {
        const rec = decodeSlot(lease);
        this.#roles.set(rec.name, role);
        records.push(rec);
      }
    }
    const before = this.#fingerprint();
    this.#seen.replaceAll(records);
    this.#queue.replaceAll(entries);
    this.#leasePause = leasePause;
    if (this.#fingerprint() !== before) this.#changedAt = this.#o.now();
  }

  /** kured's manual lock and the node count, from the DaemonSet. */
  async readDaemonSet(): Promise<void> {
    this.replaceDaemonSet(await this.#store.readDaemonSet());
  }

  /** The DaemonSet as read now (undefined: it does not exist), from a read or a watch's initial events. */
  replaceDaemonSet(ds: unknown): void {
    // A percentage is resolved against the node count of the moment: forget the last ones.
    this.#daemonNodes = undefined;
    this.#groupNodes.clear();
    this.#applyDaemonSet(ds);
  }

  pauseState(): PauseState {
    return effectivePause(this.#leasePause, this.#dsPause);
  }

  /**
   * The nodes of group `g`, the base of its percentages: without `--group-label` the nodes that run the
   * daemon (the DaemonSet's status, else all Nodes), else the Nodes with the group's label value. Counted once
   * per `readDaemonSet`.
   */
  async groupNodes(g: Group, groupLabel: string): Promise<number> {
    if (g.kind === "all") {
      this.#daemonNodes ??= await this.#store.countNodes();
      return this.#daemonNodes;
    }
    const key = groupKey(g);
    let n = this.#groupNodes.get(key);
    if (n === undefined) {
      n = g.kind === "value"
        ? await this.#store.countNodes(`${groupLabel}=${g.value}`)
        // Without the label, or with an empty value: both are the group of nodes without a value.
        : (await this.#store.countNodes(`!${groupLabel}`)) + (await this.#store.countNodes(`${groupLabel}=`));
      this.#groupNodes.set(key, n);
    }
    return n;
  }

  /** The last count of group `g`'s nodes, if this node made one. */
  knownGroupNodes(g: Group): number | undefined {
    return g.kind === "all" ? this.#daemonNodes : this.#groupNodes.get(groupKey(g));
  }

  /** What a slot Lease seen under `name` is. */
  roleOf(name: string): SlotRole | undefined {
    return this.#roles.get(name);
  }

  /**
   * Every slot as seen, with this observer's verdict. A Lease named as a slot of `mine` (this node's group)
   * whose group records are unreadable counts as that group's, so that it is repaired rather than left
   * blocking its name. `lookUp` names slots whose holder's Node is looked up when it is not known from a watch
   * (a holder whose Node is gone frees its slot); any other holder is taken to exist, which costs no request
   * and is the safe side.
   */
  async slots(
    mine: Group | undefined,
    lookUp: (v: { role: SlotRole; record: SlotRecord }) => boolean = () => false,
  ): Promise<SlotView[]> {
    const out: SlotView[] = [];
    const { dsName, groupLabel } = this.#o.layout;
    for (const name of this.#seen.names()) {
      const record = this.#seen.get(name);
      let role = this.#roles.get(name);
      if (!record || !role) continue;
      const own = mine && role.set === "foreign" ? groupSlotIndex(dsName, mine, groupLabel, name) : undefined;
      if (mine && own !== undefined) {
        role = { role: "slot", set: "group", group: mine, key: groupKey(mine), index: own };
      }
      const index = role.set === "foreign" ? -1 : role.index;
      const verdict = await this.#judge(record, lookUp({ role, record }));
      out.push({ name, role, index, record, verdict });
    }
    return out;
  }

  /** A watch event on the lock's Leases; true when it may give this node its turn (or change its report). */
  onLeaseEvent(type: string, obj: unknown): boolean {
    const role = this.#o.layout.classify(obj);
    if (role.role === "pause") {
      const before = this.pauseState().paused;
      this.#leasePause = type === "DELETED" ? NOT_PAUSED : decodePauseLease(obj);
      return before !== this.pauseState().paused;
    }
    if (role.role === "queue") {
      const moved = this.#queue.onEvent(type, obj);
      if (moved) this.#changedAt = this.#o.now();
      return moved;
    }
    if (role.role !== "slot") return false;
    const rec = decodeSlot(obj);
    // A renewal or a recorded phase keeps the holder: it frees nothing and moves nobody, so the grace the nodes
    // ahead in line get (lib/queue) runs on. Counting it as a change would restart that grace with every
    // renewal (every third of --lock-ttl per holder), and a free slot behind a next in line that does not act
    // could stay free for as long as the holders renew.
    if (type === "DELETED" || this.#seen.get(rec.name)?.holder !== rec.holder) {
      this.#changedAt = this.#o.now();
    }
    if (type === "DELETED") {
      this.#seen.forget(rec.name);
      this.#roles.delete(rec.name);
      return true;
    }
    this.#roles.set(rec.name, role);
    this.#seen.observe(rec);
    return rec.holder === "";
  }

  /** A watch event on the DaemonSet; true when it lifted or set a pause. */
  onDaemonSet(obj: unknown): boolean {
    const before = this.pauseState().paused;
    this.#applyDaemonSet(obj);
    return before !== this.pauseState().paused;
  }

  /** A watch event on a holder's Node; true when the Node is gone (its slot is free). */
  onNodeEvent(type: string, name: string, obj?: unknown): boolean {
    this.#holderExists.set(name, type !== "DELETED");
    const annotations = (obj as { metadata?: { annotations?: Record<string, unknown> } })?.metadata
      ?.annotations;
    if (type !== "DELETED" && obj !== undefined) {
      this.#holderCordon.set(name, annotations?.[CORDONED_BY_KREBOOT] !== undefined);
    }
    if (type === "DELETED") this.#changedAt = this.#o.now();
    return type === "DELETED";
  }

  /** Who holds what, and who waits: a change of it restarts the clock of a node that waits its turn. */
  #fingerprint(): string {
    const slots = this.#seen.names().sort().map((n) => `${n}=${this.#seen.get(n)?.holder}`);
    return `${slots.join(",")}|${this.#queue.fingerprint()}`;
  }

  #applyDaemonSet(ds: unknown): void {
    if (ds === undefined) {
      this.#dsPause = NOT_PAUSED;
      return;
    }
    const desired = (ds as { status?: { desiredNumberScheduled?: unknown } }).status?.desiredNumberScheduled;
    if (typeof desired === "number" && desired > 0) this.#daemonNodes = desired;
    this.#dsPause = decodeDaemonSetPause(ds, {
      namespace: this.#o.namespace,
      dsName: this.#o.layout.dsName,
      lockAnnotation: this.#o.lockAnnotation,
    });
  }

  async #judge(record: SlotRecord, lookUp: boolean): Promise<SlotVerdict> {
    const first = this.#seen.judge(record);
    if (first.kind !== "held" && first.kind !== "expired") return first;
    const v = await this.#judgeHolder(record, first.holder, lookUp);
    if (v === undefined) return first;
    if (v.kind !== "expired") return v;
    // Silent past --lock-ttl, but its Node still carries kreboot's cordon: that node is still disrupted (its
    // daemon may be down for a while, e.g. killed during an API server restart), so taking its slot would put
    // one node more out of service than the concurrency allows. It keeps the slot until its daemon comes back
    // (renews, or undoes the cordon at start-up: lib/machine/startup.ts) or its Node is deleted.
    return (await this.#holderCordoned(v.holder, lookUp)) ? { kind: "held", holder: v.holder } : v;
  }

  /**
   * The verdict with what is known of the holder's Node: from a watch on it when one is open (it begins with
   * the Node as it is, then brings its deletion), else from a read when `lookUp`; undefined when neither.
   */
  async #judgeHolder(record: SlotRecord, holder: string, lookUp: boolean): Promise<SlotVerdict | undefined> {
    if (this.#o.watchingNode(holder) && await this.#o.nodeHeard(holder, lookUp ? NODE_WATCH_ANSWER_MS : 0)) {
      const known = this.#holderExists.get(holder);
      if (known !== undefined) return this.#seen.judge(record, known);
    }
    if (!lookUp) return undefined;
    return this.#seen.judge(record, await this.#nodeExists(holder));
  }

  /** Whether the holder's Node carries kreboot's cordon: as last heard or read, else read when `lookUp`. */
  async #holderCordoned(name: string, lookUp: boolean): Promise<boolean> {
    const known = this.#holderCordon.get(name);
    if (known !== undefined && (!lookUp || this.#o.watchingNode(name))) return known;
    if (!lookUp) return false;
    try {
      const cordoned = await this.#store.nodeCordonedByKreboot(name);
      this.#holderCordon.set(name, cordoned);
      return cordoned;
    } catch {
      return true; // cannot tell: the safe side for a lock
    }
  }

  async #nodeExists(name: string): Promise<boolean> {
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
