/**
 * An in-memory LeaseStore (lib/lock/store.ts) that behaves as the API server does where the lock depends on
 * it: resourceVersions, compare-and-swap on merge patches (409), AlreadyExists on create, 404, dry run, watch
 * events, and an outage switch that fails every call and ends every watch. Every call is counted.
 */
import {
  InitialStateRefused,
  LeaseConflict,
  LeaseNotFound,
  type LeaseStore,
  type WatchCallbacks,
  WatchExpired,
  type WatchHandle,
} from "../../../lib/lock/store.ts";
import type { WatchTarget } from "../../../lib/lock/store.ts";
import { CORDONED_BY_KREBOOT } from "../../../lib/drain/node.ts";

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return structuredClone(patch);
  const out: Obj = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

interface Watcher {
  target: WatchTarget;
  cb: WatchCallbacks;
  stopped: boolean;
}

export class FakeLeaseStore implements LeaseStore {
  readonly leases = new Map<string, Obj>();
  readonly nodes = new Set<string>();
  /** Node labels, for `countNodes(labelSelector)` (`key=value`, `key=` and `!key` are understood). */
  readonly nodeLabels = new Map<string, Record<string, string>>();
  daemonSet: Obj | undefined;
  dryRun = false;
  /** Calls per method, e.g. `calls.patchLease`. */
  readonly calls: Record<string, number> = {};
  /** Ends stopped watches with an abort error, as a transport that reports its own aborts does. */
  reportAbortOnStop = true;
  /**
   * Whether a watch asked for its initial state gets it: false, refused (as Kubernetes 1.33 does by default);
   * "ignored", a plain watch's ADDED events and no end of them (as before Kubernetes 1.27).
   */
  streamsInitialState: boolean | "ignored" = true;
  #rv = 100;
  /** Every Lease event, so that a watch from a resourceVersion replays what came after it, as the server does. */
  #history: { rv: number; type: string; obj: Obj }[] = [];
  #compactedRv = 0;
  #down = false;
  #watchers = new Set<Watcher>();

  constructor(opts: { nodes?: string[]; dryRun?: boolean } = {}) {
    for (const n of opts.nodes ?? []) this.nodes.add(n);
    this.dryRun = opts.dryRun ?? false;
  }

  /** The API server goes away (every call fails, every watch ends with an error) or comes back. */
  setDown(down: boolean): void {
    this.#down = down;
    if (!down) return;
    for (const w of [...this.#watchers]) this.#end(w, new Error("connect ECONNREFUSED 127.0.0.1:6443"));
  }

  /**
   * The server forgets the history before now (an etcd compaction): every Lease watch ends with 410 Gone, and a
   * watch from an older resourceVersion is refused the same way.
   */
  compact(): void {
    this.#compactedRv = this.#rv;
    for (const w of [...this.#watchers]) {
      if (w.target.kind === "leases") this.#end(w, new WatchExpired("too old resource version (410 Gone)"));
    }
  }

  get openWatches(): number {
    return [...this.#watchers].filter((w) => !w.stopped).length;
  }

  /** A write by someone else (an administrator, another node): bumps the resourceVersion. */
  externalPatch(name: string, patch: Obj): void {
    const cur = this.leases.get(name);
    if (!cur) throw new Error(`no Lease ${name}`);
    this.#store(name, mergePatch(cur, patch) as Obj, "MODIFIED");
  }

  externalDelete(name: string): void {
    const cur = this.leases.get(name);
    this.leases.delete(name);
    if (!cur) return;
    const rv = ++this.#rv;
    this.#history.push({ rv, type: "DELETED", obj: structuredClone(cur) });
    this.#emit("leases", "DELETED", cur);
  }

  deleteNode(name: string): void {
    this.nodes.delete(name);
    this.#emit("node", "DELETED", { metadata: { name } }, name);
  }

  holder(name: string): string | undefined {
    const spec = this.leases.get(name)?.spec;
    return isObj(spec) && typeof spec.holderIdentity === "string" ? spec.holderIdentity : undefined;
  }

  #call(method: string): void {
    this.calls[method] = (this.calls[method] ?? 0) + 1;
    if (this.#down) throw new Error("connect ECONNREFUSED 127.0.0.1:6443");
  }

  #store(name: string, obj: Obj, type: "ADDED" | "MODIFIED"): Obj {
    const meta = isObj(obj.metadata) ? obj.metadata : {};
    const stored = { ...obj, metadata: { ...meta, name, resourceVersion: String(++this.#rv) } };
    this.leases.set(name, stored);
    this.#history.push({ rv: this.#rv, type, obj: structuredClone(stored) });
    this.#emit("leases", type, stored);
    return structuredClone(stored);
  }

  #emit(kind: WatchTarget["kind"], type: string, obj: Obj, node?: string): void {
    for (const w of [...this.#watchers]) {
      if (w.stopped || w.target.kind !== kind) continue;
      if (w.target.kind === "node" && w.target.name !== node) continue;
      w.cb.event(type, structuredClone(obj));
    }
  }

  #end(w: Watcher, err?: unknown): void {
    if (!this.#watchers.delete(w)) return;
    w.cb.end(err);
  }

  listLeases(): Promise<{ items: unknown[]; resourceVersion: string }> {
    return Promise.resolve().then(() => {
      this.#call("listLeases");
      return {
        items: [...this.leases.values()].map((l) => structuredClone(l)),
        resourceVersion: String(this.#rv),
      };
    });
  }

  createLease(body: Obj): Promise<unknown> {
    return Promise.resolve().then(() => {
      this.#call("createLease");
      const name = String((body.metadata as Obj).name);
      if (this.leases.has(name)) throw new LeaseConflict(`leases "${name}" already exists`);
      if (this.dryRun) return structuredClone(body);
      return this.#store(name, body, "ADDED");
    });
  }

  patchLease(name: string, patch: Obj): Promise<unknown> {
    return Promise.resolve().then(() => {
      this.#call("patchLease");
      const cur = this.leases.get(name);
      if (!cur) throw new LeaseNotFound(`leases "${name}" not found`);
      const rv = isObj(patch.metadata) ? patch.metadata.resourceVersion : undefined;
      if (rv !== undefined && rv !== (cur.metadata as Obj).resourceVersion) {
        throw new LeaseConflict(`the object has been modified (${rv})`);
      }
      const merged = mergePatch(cur, patch) as Obj;
      if (this.dryRun) {
        return {
          ...merged,
          metadata: { ...(merged.metadata as Obj), resourceVersion: (cur.metadata as Obj).resourceVersion },
        };
      }
      return this.#store(name, merged, "MODIFIED");
    });
  }

  deleteLease(name: string): Promise<void> {
    return Promise.resolve().then(() => {
      this.#call("deleteLease");
      if (!this.dryRun) this.externalDelete(name);
    });
  }

  readDaemonSet(): Promise<unknown | undefined> {
    return Promise.resolve().then(() => {
      this.#call("readDaemonSet");
      return this.daemonSet && structuredClone(this.daemonSet);
    });
  }

  setDaemonSetAnnotations(annotations: Record<string, string>): void {
    this.daemonSet = { metadata: { name: "kured", annotations } };
    this.#emit("daemonset", "MODIFIED", this.daemonSet);
  }

  countNodes(labelSelector?: string): Promise<number> {
    return Promise.resolve().then(() => {
      this.#call("countNodes");
      if (labelSelector === undefined) return this.nodes.size;
      const absent = /^!(.+)$/.exec(labelSelector);
      const eq = /^([^=]+)=(.*)$/.exec(labelSelector);
      return [...this.nodes].filter((n) => {
        const labels = this.nodeLabels.get(n) ?? {};
        if (absent) return !(absent[1]! in labels);
        if (eq) return labels[eq[1]!] === eq[2];
        throw new Error(`fake store: selector ${labelSelector} not understood`);
      }).length;
    });
  }

  nodeExists(name: string): Promise<boolean> {
    return Promise.resolve().then(() => {
      this.#call("nodeExists");
      return this.nodes.has(name);
    });
  }

  /** Nodes whose kreboot cordon is still on (tests set it). */
  readonly cordoned = new Set<string>();

  nodeCordonedByKreboot(name: string): Promise<boolean> {
    return Promise.resolve().then(() => {
      this.#call("nodeCordonedByKreboot");
      return this.cordoned.has(name);
    });
  }

  watch(target: WatchTarget, cb: WatchCallbacks): WatchHandle {
    this.calls[`watch/${target.kind}`] = (this.calls[`watch/${target.kind}`] ?? 0) + 1;
    const w: Watcher = { target, cb, stopped: false };
    this.#watchers.add(w);
    queueMicrotask(() => {
      if (w.stopped || !this.#watchers.has(w)) return;
      if (this.#down) return this.#end(w, new Error("connect ECONNREFUSED 127.0.0.1:6443"));
      const initial = target.kind !== "node" && target.initial === true;
      if (initial && this.streamsInitialState === false) {
        return this.#end(w, new InitialStateRefused("sendInitialEvents is forbidden (422)"));
      }
      cb.open();
      if (initial) {
        // The current state as ADDED events, then the bookmark that ends them (reported as `synced`).
        const objs = target.kind === "leases"
          ? [...this.leases.values()]
          : this.daemonSet
          ? [this.daemonSet]
          : [];
        for (const o of objs) cb.event("ADDED", structuredClone(o));
        if (this.streamsInitialState === true) cb.synced?.(String(this.#rv));
        return;
      }
      // A watch without a resourceVersion begins with the object as it is, as the API server's does.
      if (target.kind === "node" && this.nodes.has(target.name)) {
        const annotations = this.cordoned.has(target.name) ? { [CORDONED_BY_KREBOOT]: "true" } : {};
        cb.event("ADDED", { metadata: { name: target.name, annotations } });
      }
      if (target.kind === "leases" && target.resourceVersion !== undefined) {
        const from = Number(target.resourceVersion);
        if (from < this.#compactedRv) {
          return this.#end(w, new WatchExpired("too old resource version (410 Gone)"));
        }
        for (const e of this.#history) if (e.rv > from) cb.event(e.type, structuredClone(e.obj));
      }
    });
    return {
      stop: () => {
        w.stopped = true;
        // Reported synchronously, the worst case for a caller that forgets the watch only after stopping it.
        if (this.reportAbortOnStop) {
          this.#end(w, new DOMException("The user aborted a request.", "AbortError"));
        } else this.#watchers.delete(w);
      },
    };
  }
}
