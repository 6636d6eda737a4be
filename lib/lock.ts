/**
 * The cluster-wide reboot lock: N `coordination.k8s.io/v1` Leases used as a counting semaphore.
 *
 * Every write is a merge patch carrying the resourceVersion that was read (a compare-and-swap: a racing
 * writer gets 409 and re-reads), never a replace of a whole object through the generated models. A waiting
 * node watches the slot Leases, the DaemonSet (for kured's manual lock) and the holders' Nodes, so it retries
 * within moments of a release, a pause being lifted or a holder Node being deleted, instead of once per
 * period. A node that needs no reboot never calls into this module.
 */
import type { Kube } from "./kube/mod.ts";
import { apiStatus, describeApiError, dryRunParam, isConflict, isNotFound, MERGE_PATCH } from "./kube/mod.ts";
import type { Logger } from "./log.ts";
import { sleep } from "./sleep.ts";
import {
  acquirePatch,
  type Concurrency,
  decodeSlot,
  judgeSlot,
  kuredAnnotationPause,
  LOCK_LABEL,
  microTimeString,
  newSlotLease,
  pauseLeaseName,
  releasePatch,
  resolveConcurrency,
  SLOT_ANNOTATIONS,
  slotIndex,
  slotName,
  type SlotRecord,
  type SlotVerdict,
} from "./lock/slots.ts";

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

export type PauseState =
  | { paused: false }
  | { paused: true; by: string; reason: string; since?: Date; source: "lease" | "kured-annotation" };

export type AcquireResult =
  | { acquired: true; slot: SlotRecord }
  | { acquired: false; reason: "paused" | "full"; message: string };

export interface SlotView {
  index: number;
  record: SlotRecord;
  verdict: SlotVerdict;
}

export class LostSlotError extends Error {
  constructor(slot: string, holder: string) {
    super(`slot ${slot} is no longer held by this node (holder now ${JSON.stringify(holder)})`);
  }
}

interface Observed {
  rv: string;
  at: number;
}

const MAX_CAS_ATTEMPTS = 8;

export class RebootLock {
  readonly #kube: Kube;
  readonly #o: Required<Omit<LockOptions, "log">> & { log: Logger };
  readonly #slots = new Map<string, SlotRecord>();
  readonly #observed = new Map<string, Observed>();
  readonly #holderExists = new Map<string, boolean>();
  #pause: PauseState = { paused: false };
  #daemonNodes: number | undefined;
  #listRv = "";
  #held: SlotRecord | undefined;
  #watch: LockWatch | undefined;

  constructor(kube: Kube, opts: LockOptions) {
    this.#kube = kube;
    this.#o = {
      now: () => Date.now(),
      random: Math.random,
      wakeJitterMs: 300,
      ...opts,
    };
  }

  get held(): SlotRecord | undefined {
    return this.#held;
  }

  /** Reads every slot and the pause state from the server, refreshing what this observer has seen. */
  async refresh(): Promise<void> {
    const list = await this.#kube.coord.listNamespacedLease({
      namespace: this.#o.namespace,
      labelSelector: `${LOCK_LABEL}=${this.#o.dsName}`,
    });
    this.#listRv = list.metadata?.resourceVersion ?? "";
    const seen = new Set<string>();
    let pause: PauseState = { paused: false };
    for (const lease of list.items) {
      const name = lease.metadata?.name ?? "";
      if (name === pauseLeaseName(this.#o.dsName)) {
        pause = decodePause(lease);
        continue;
      }
      if (slotIndex(this.#o.dsName, name) === undefined) continue;
      seen.add(name);
      this.#observe(decodeSlot(lease));
    }
    for (const name of [...this.#slots.keys()]) if (!seen.has(name)) this.#forget(name);
    this.#pause = pause;
    // A percentage is resolved against the node count of the moment: read it again with the slots.
    this.#daemonNodes = undefined;
    await this.#readDaemonSet();
    this.#syncHeld();
  }

  /** The slot this node holds according to the server (start-up recovery reads this). */
  async mine(): Promise<SlotRecord | undefined> {
    await this.refresh();
    return this.#held;
  }

  /** How many slots there are now (a percentage is resolved against the nodes that run the daemon). */
  async capacity(): Promise<number> {
    if (this.#o.concurrency.kind === "count") return resolveConcurrency(this.#o.concurrency, 0);
    if (this.#daemonNodes === undefined) {
      const nodes = await this.#kube.core.listNode({});
      this.#daemonNodes = nodes.items.length;
    }
    return resolveConcurrency(this.#o.concurrency, this.#daemonNodes);
  }

  pauseState(): PauseState {
    return this.#pause;
  }

  /** Every slot index below capacity plus any held leftover above it, with this observer's verdict. */
  async view(): Promise<SlotView[]> {
    const n = await this.capacity();
    const views: SlotView[] = [];
    const names = new Set<string>([...Array(n).keys()].map((i) => slotName(this.#o.dsName, i)));
    for (const name of this.#slots.keys()) names.add(name);
    for (const name of names) {
      const index = slotIndex(this.#o.dsName, name) ?? -1;
      const record = this.#slots.get(name) ??
        { name, resourceVersion: "", holder: "", transitions: 0, problems: [] };
      if (index >= n && record.holder === "") continue;
      views.push({ index, record, verdict: await this.#judge(record) });
    }
    return views.sort((a, b) => a.index - b.index);
  }

  /**
   * Takes a free slot if there is one and reboots are not paused. Re-entrant: a node that already holds a slot
   * gets it back. Uses the watched state when a watch is running (no extra reads per wake-up), else reads.
   */
  async tryAcquire(state: HolderState): Promise<AcquireResult> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      if (!this.#watch?.live || attempt > 0) await this.refresh();
      if (this.#held) return { acquired: true, slot: this.#held };
      if (this.#pause.paused) {
        return {
          acquired: false,
          reason: "paused",
          message: `reboots are paused by ${this.#pause.by}: ${this.#pause.reason}`,
        };
      }
      const views = await this.view();
      const n = await this.capacity();
      const busy = views.filter((v) => v.verdict.kind === "held");
      if (busy.length >= n) {
        return {
          acquired: false,
          reason: "full",
          message: `all ${n} slot(s) held by ${busy.map((v) => describeHolder(v)).join(", ")}`,
        };
      }
      const candidate = views.find((v) => v.index >= 0 && v.index < n && v.verdict.kind !== "held");
      if (!candidate) return { acquired: false, reason: "full", message: `no free slot among ${n}` };
      if (candidate.verdict.kind === "orphaned" || candidate.verdict.kind === "expired") {
        this.#o.log.warn("taking over a slot whose holder is gone or silent", {
          slot: candidate.record.name,
          holder: candidate.verdict.holder,
          why: candidate.verdict.kind === "orphaned"
            ? "holder Node does not exist"
            : "holder silent past --lock-ttl",
        });
      }
      if (candidate.record.problems.length) {
        this.#o.log.warn("repairing a slot Lease with unreadable holder fields", {
          slot: candidate.record.name,
          problems: candidate.record.problems,
        });
      }
      try {
        const slot = await this.#write(candidate.record, state);
        this.#held = slot;
        this.#o.log.info(this.#kube.dryRun ? "would take slot (dry run)" : "took slot", {
          slot: slot.name,
          index: candidate.index,
        });
        return { acquired: true, slot };
      } catch (e) {
        const status = apiStatus(e);
        if (status === 409) continue; // somebody else was faster: re-read and look again
        throw new Error(`cannot take slot ${candidate.record.name}: ${describeApiError(e)}`);
      }
    }
    return {
      acquired: false,
      reason: "full",
      message: "lost every race for a slot; will retry on the next change",
    };
  }

  async #write(record: SlotRecord, state: HolderState): Promise<SlotRecord> {
    const fields = {
      holder: this.#o.node,
      ...state,
      ...(this.#o.ttlMs > 0 ? { leaseDurationSeconds: Math.max(1, Math.ceil(this.#o.ttlMs / 1000)) } : {}),
      transitions: record.transitions,
      now: new Date(this.#o.now()),
    };
    if (record.resourceVersion === "") {
      const body = newSlotLease(this.#o.namespace, this.#o.dsName, record.name, fields);
      try {
        const created = await this.#kube.coord.createNamespacedLease({
          namespace: this.#o.namespace,
          body: body as never,
          ...dryRunParam(this.#kube),
        });
        return this.#observe(decodeSlot(created));
      } catch (e) {
        // AlreadyExists: another node created it first. Same as a conflict: re-read.
        if (apiStatus(e) === 409) throw e;
        throw e;
      }
    }
    const patched = await this.#kube.coord.patchNamespacedLease(
      {
        name: record.name,
        namespace: this.#o.namespace,
        body: acquirePatch(record.resourceVersion, fields),
        ...dryRunParam(this.#kube),
      },
      MERGE_PATCH,
    );
    return this.#observe(decodeSlot(patched));
  }

  /**
   * Updates what the holder records (phase, release deadline). A conflict is re-read and retried; if the slot
   * turns out to belong to someone else, LostSlotError says so and the caller must stop disrupting the node.
   */
  async update(fields: { phase?: string; releaseAfter?: Date | null; bootId?: string }): Promise<SlotRecord> {
    const annotations: Record<string, string | null> = {};
    if (fields.phase !== undefined) annotations[SLOT_ANNOTATIONS.phase] = fields.phase;
    if (fields.bootId !== undefined) annotations[SLOT_ANNOTATIONS.bootId] = fields.bootId;
    if (fields.releaseAfter !== undefined) {
      annotations[SLOT_ANNOTATIONS.releaseAfter] = fields.releaseAfter
        ? fields.releaseAfter.toISOString()
        : null;
    }
    return await this.#casMine((rv) => ({
      metadata: { resourceVersion: rv, annotations },
      spec: { renewTime: microTimeString(new Date(this.#o.now())) },
    }));
  }

  /** Tells other nodes the holder is alive (only meaningful with --lock-ttl). */
  async renew(): Promise<void> {
    await this.#casMine((rv) => ({
      metadata: { resourceVersion: rv },
      spec: { renewTime: microTimeString(new Date(this.#o.now())) },
    }));
  }

  /** Frees this node's slot. Releasing a slot that is not ours is a no-op, never a steal. */
  async release(): Promise<void> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const mine = this.#held ?? (await this.mine());
      if (!mine) return;
      try {
        const patched = await this.#kube.coord.patchNamespacedLease(
          {
            name: mine.name,
            namespace: this.#o.namespace,
            body: releasePatch(mine.resourceVersion),
            ...dryRunParam(this.#kube),
          },
          MERGE_PATCH,
        );
        if (!this.#kube.dryRun) this.#observe(decodeSlot(patched));
        this.#held = undefined;
        this.#o.log.info(this.#kube.dryRun ? "would release slot (dry run)" : "released slot", {
          slot: mine.name,
        });
        return;
      } catch (e) {
        if (isNotFound(e)) {
          this.#held = undefined;
          return;
        }
        if (!isConflict(e)) throw new Error(`cannot release slot ${mine.name}: ${describeApiError(e)}`);
        this.#held = undefined;
        await this.refresh();
      }
    }
    throw new Error("cannot release slot: it kept changing under us; will retry");
  }

  async #casMine(body: (rv: string) => Record<string, unknown>): Promise<SlotRecord> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const mine = this.#held;
      if (!mine) throw new LostSlotError("(none)", "");
      // A dry-run acquisition of a slot that did not exist was never stored: there is nothing to patch.
      if (this.#kube.dryRun && mine.resourceVersion === "") return mine;
      try {
        const patched = await this.#kube.coord.patchNamespacedLease(
          {
            name: mine.name,
            namespace: this.#o.namespace,
            body: body(mine.resourceVersion),
            ...dryRunParam(this.#kube),
          },
          MERGE_PATCH,
        );
        const rec = decodeSlot(patched);
        this.#held = this.#kube.dryRun
          ? { ...rec, resourceVersion: mine.resourceVersion }
          : this.#observe(rec);
        return this.#held;
      } catch (e) {
        if (isNotFound(e)) {
          this.#held = undefined;
          throw new LostSlotError(mine.name, "");
        }
        if (!isConflict(e)) throw e;
        await this.refresh();
        const now = this.#slots.get(mine.name);
        if (!this.#held) throw new LostSlotError(mine.name, now?.holder ?? "");
      }
    }
    throw new Error("cannot update slot: it kept changing under us; will retry");
  }

  /** Blocks new acquisitions cluster-wide; nodes that hold a slot finish. */
  async pause(by: string, reason: string): Promise<void> {
    const name = pauseLeaseName(this.#o.dsName);
    const now = microTimeString(new Date(this.#o.now()));
    const annotations = { [SLOT_ANNOTATIONS.pauseReason]: reason };
    try {
      await this.#kube.coord.createNamespacedLease({
        namespace: this.#o.namespace,
        body: {
          metadata: {
            name,
            namespace: this.#o.namespace,
            labels: { [LOCK_LABEL]: this.#o.dsName },
            annotations,
          },
          spec: { holderIdentity: by, acquireTime: now as never, renewTime: now as never },
        },
        ...dryRunParam(this.#kube),
      });
    } catch (e) {
      if (apiStatus(e) !== 409) throw e;
      await this.#kube.coord.patchNamespacedLease(
        {
          name,
          namespace: this.#o.namespace,
          body: { metadata: { annotations }, spec: { holderIdentity: by, acquireTime: now, renewTime: now } },
          ...dryRunParam(this.#kube),
        },
        MERGE_PATCH,
      );
    }
  }

  async resume(): Promise<void> {
    try {
      await this.#kube.coord.deleteNamespacedLease({
        name: pauseLeaseName(this.#o.dsName),
        namespace: this.#o.namespace,
        ...dryRunParam(this.#kube),
      });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /**
   * Waits until something happens that may let this node take a slot: a slot freed or deleted, a holder Node
   * deleted, a holder falling silent past the TTL, the pause lifted. Then a small random jitter. Opens the
   * watches on first use; `stopWatching()` closes them when the node no longer waits.
   */
  async waitForChance(signal: AbortSignal, maxMs: number): Promise<"changed" | "timeout" | "aborted"> {
    if (!this.#watch) {
      this.#watch = new LockWatch(this.#kube, this.#o, this.#listRv, {
        lease: (type, obj) => this.#onLeaseEvent(type, obj),
        daemonSet: (obj) => this.#onDaemonSet(obj),
        node: (type, name) => {
          if (type === "DELETED") this.#holderExists.set(name, false);
          else this.#holderExists.set(name, true);
          return type === "DELETED";
        },
        resync: () => this.refresh(),
      });
    }
    const deadline = this.#o.now() + maxMs;
    for (;;) {
      const wasPaused = this.#pause.paused;
      const holders = [...this.#slots.values()].map((s) => s.holder).filter((h) => h && h !== this.#o.node);
      this.#watch.watchNodes(holders);
      let ttlWake = Infinity;
      for (const v of await this.view()) {
        if (v.verdict.kind === "held" && v.verdict.expiresInMs !== undefined) {
          ttlWake = Math.min(ttlWake, v.verdict.expiresInMs + 50);
        }
      }
      const left = Math.max(0, deadline - this.#o.now());
      const result = await this.#watch.next(signal, Math.min(left, ttlWake));
      if (result === "aborted") return result;
      if (result === "timeout" && ttlWake > left) return "timeout";
      await sleep(Math.floor(this.#o.random() * this.#o.wakeJitterMs), signal);
      if (signal.aborted) return "aborted";
      // The jitter lets one waiter win while the others see its write arrive on the watch. A waiter that saw
      // every slot taken again keeps waiting: waking the caller would only re-run its gates and reports for a
      // try that cannot succeed (each release cost every waiter ~9 requests; bench/RESULTS.md). A lifted pause
      // always wakes the caller, so what it reports changes from "paused" to the slots.
      if (result === "changed" && !wasPaused && this.#watch?.live && !(await this.#mayAcquire())) continue;
      return "changed";
    }
  }

  /**
   * From the watched state: is some slot not held (or this node's)? The pause is not looked at: a slot freed
   * while paused still wakes the caller, whose report then changes from "lock" to "paused".
   */
  async #mayAcquire(): Promise<boolean> {
    if (this.#held) return true;
    const n = await this.capacity();
    return (await this.view()).some((v) => v.index >= 0 && v.index < n && v.verdict.kind !== "held");
  }

  stopWatching(): void {
    this.#watch?.close();
    this.#watch = undefined;
  }

  #onLeaseEvent(type: string, obj: unknown): boolean {
    const rec = decodeSlot(obj);
    if (rec.name === pauseLeaseName(this.#o.dsName)) {
      const before = this.#pause.paused;
      this.#pause = type === "DELETED" ? { paused: false } : decodePause(obj);
      return before && !this.#pause.paused;
    }
    if (slotIndex(this.#o.dsName, rec.name) === undefined) return false;
    if (type === "DELETED") {
      this.#forget(rec.name);
      return true;
    }
    this.#observe(rec);
    this.#syncHeld();
    return rec.holder === "";
  }

  #onDaemonSet(obj: unknown): boolean {
    const before = this.#pause;
    this.#applyDaemonSet(obj);
    return before.paused && before.source === "kured-annotation" && !this.#pause.paused;
  }

  async #readDaemonSet(): Promise<void> {
    try {
      const ds = await this.#kube.apps.readNamespacedDaemonSet({
        name: this.#o.dsName,
        namespace: this.#o.namespace,
      });
      this.#applyDaemonSet(ds);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      this.#daemonNodes = undefined;
    }
  }

  #applyDaemonSet(obj: unknown): void {
    const ds = obj as {
      metadata?: { annotations?: Record<string, string> };
      status?: { desiredNumberScheduled?: number };
    };
    const desired = ds.status?.desiredNumberScheduled;
    if (typeof desired === "number" && desired > 0) this.#daemonNodes = desired;
    const by = kuredAnnotationPause(ds.metadata?.annotations?.[this.#o.lockAnnotation]);
    if (by !== undefined && !(this.#pause.paused && this.#pause.source === "lease")) {
      this.#pause = {
        paused: true,
        by,
        reason:
          `kured lock annotation ${this.#o.lockAnnotation} on DaemonSet ${this.#o.namespace}/${this.#o.dsName}`,
        source: "kured-annotation",
      };
    } else if (by === undefined && this.#pause.paused && this.#pause.source === "kured-annotation") {
      this.#pause = { paused: false };
    }
  }

  #observe(rec: SlotRecord): SlotRecord {
    const prev = this.#observed.get(rec.name);
    if (!prev || prev.rv !== rec.resourceVersion) {
      this.#observed.set(rec.name, { rv: rec.resourceVersion, at: this.#o.now() });
    }
    this.#slots.set(rec.name, rec);
    return rec;
  }

  #forget(name: string): void {
    this.#slots.delete(name);
    this.#observed.delete(name);
  }

  #syncHeld(): void {
    const mine = [...this.#slots.values()].find((s) => s.holder === this.#o.node);
    if (this.#kube.dryRun && this.#held && !mine) return; // a dry-run acquisition never persisted
    this.#held = mine;
  }

  async #judge(record: SlotRecord): Promise<SlotVerdict> {
    const ctx = {
      me: this.#o.node,
      now: this.#o.now(),
      observedAt: this.#observed.get(record.name)?.at ?? this.#o.now(),
      ttlMs: this.#o.ttlMs,
    };
    const first = judgeSlot(record, ctx);
    if (first.kind !== "held" && first.kind !== "expired") return first;
    return judgeSlot(record, { ...ctx, holderExists: await this.#nodeExists(first.holder) });
  }

  async #nodeExists(name: string): Promise<boolean> {
    const known = this.#holderExists.get(name);
    if (known !== undefined && this.#watch?.watchingNode(name)) return known;
    try {
      await this.#kube.core.readNode({ name });
      this.#holderExists.set(name, true);
      return true;
    } catch (e) {
      if (isNotFound(e)) {
        this.#holderExists.set(name, false);
        return false;
      }
      // Cannot tell: assume the holder is alive, the safe side for a lock.
      return true;
    }
  }
}

function describeHolder(v: SlotView): string {
  const r = v.record;
  return `${r.holder}${r.phase ? ` (${r.phase})` : ""}`;
}

function decodePause(obj: unknown): PauseState {
  const lease = obj as {
    metadata?: { annotations?: Record<string, string> };
    spec?: { holderIdentity?: string; acquireTime?: unknown };
  };
  const by = lease.spec?.holderIdentity;
  if (typeof by !== "string" || by === "") return { paused: false };
  const reason = lease.metadata?.annotations?.[SLOT_ANNOTATIONS.pauseReason] ?? "(no reason given)";
  const t = lease.spec?.acquireTime;
  const since = t instanceof Date ? t : typeof t === "string" ? new Date(t) : undefined;
  return {
    paused: true,
    by,
    reason: String(reason),
    source: "lease",
    ...(since && Number.isFinite(since.getTime()) ? { since } : {}),
  };
}

interface WatchHandlers {
  /** Returns true when the event may free a slot. */
  lease(type: string, obj: unknown): boolean;
  daemonSet(obj: unknown): boolean;
  node(type: string, name: string): boolean;
  resync(): Promise<void>;
}

/**
 * The watches a waiting node keeps open. Each is restarted with backoff when the server ends it; a restart
 * re-reads the slots first, since events may have been missed.
 */
class LockWatch {
  #kube: Kube;
  #o: { namespace: string; dsName: string; log: Logger };
  #h: WatchHandlers;
  #controllers = new Map<string, AbortController>();
  #nodes = new Set<string>();
  #pending = false;
  #wake: (() => void) | undefined;
  #closed = false;
  live = false;

  constructor(
    kube: Kube,
    o: { namespace: string; dsName: string; log: Logger },
    rv: string,
    h: WatchHandlers,
  ) {
    this.#kube = kube;
    this.#o = o;
    this.#h = h;
    this.#start("leases", `/apis/coordination.k8s.io/v1/namespaces/${o.namespace}/leases`, {
      labelSelector: `${LOCK_LABEL}=${o.dsName}`,
      ...(rv ? { resourceVersion: rv } : {}),
    }, (type, obj) => h.lease(type, obj));
    this.#start("daemonset", `/apis/apps/v1/namespaces/${o.namespace}/daemonsets`, {
      fieldSelector: `metadata.name=${o.dsName}`,
    }, (_type, obj) => h.daemonSet(obj));
  }

  watchingNode(name: string): boolean {
    return this.#nodes.has(name) && this.#controllers.has(`node/${name}`);
  }

  watchNodes(names: string[]): void {
    const want = new Set(names);
    for (const name of this.#nodes) {
      if (!want.has(name)) {
        this.#controllers.get(`node/${name}`)?.abort();
        this.#controllers.delete(`node/${name}`);
        this.#nodes.delete(name);
      }
    }
    for (const name of want) {
      if (this.#nodes.has(name)) continue;
      this.#nodes.add(name);
      this.#start(
        `node/${name}`,
        "/api/v1/nodes",
        { fieldSelector: `metadata.name=${name}` },
        (type) => this.#h.node(type, name),
      );
    }
  }

  next(signal: AbortSignal, maxMs: number): Promise<"changed" | "timeout" | "aborted"> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve("changed");
    }
    return new Promise((resolve) => {
      const finish = (r: "changed" | "timeout" | "aborted") => {
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

  #signal(): void {
    if (this.#wake) this.#wake();
    else this.#pending = true;
  }

  #start(
    key: string,
    path: string,
    query: Record<string, string>,
    handle: (type: string, obj: unknown) => boolean,
    backoffMs = 500,
  ): void {
    if (this.#closed) return;
    const startedAt = Date.now();
    const restart = (err: unknown) => {
      if (this.#closed || !this.#controllers.has(key)) return;
      if (key === "leases") this.live = false;
      const wait = Date.now() - startedAt > 30_000 ? 500 : Math.min(backoffMs * 2, 30_000);
      if (err) {
        this.#o.log.warn("watch ended; restarting", { watch: key, error: describeApiError(err), inMs: wait });
      }
      setTimeout(() => {
        if (this.#closed || !this.#controllers.has(key)) return;
        // Events may have been missed while the watch was down: re-read, then wake the waiter to look.
        this.#h.resync().catch(() => {}).finally(() => {
          this.#signal();
          const { resourceVersion: _drop, ...rest } = query;
          this.#start(key, path, rest, handle, wait);
        });
      }, wait);
    };
    this.#controllers.set(key, new AbortController());
    this.#kube.watch.watch(path, { ...query, allowWatchBookmarks: true }, (type, obj) => {
      if (type === "BOOKMARK") return;
      if (type === "ERROR") return;
      if (handle(type, obj)) this.#signal();
    }, restart).then((ctl) => {
      if (this.#closed || !this.#controllers.has(key)) {
        ctl.abort();
        return;
      }
      this.#controllers.set(key, ctl);
      if (key === "leases") this.live = true;
    }, restart);
  }

  close(): void {
    this.#closed = true;
    this.live = false;
    for (const ctl of this.#controllers.values()) ctl.abort();
    this.#controllers.clear();
    this.#wake?.();
  }
}
