/**
 * The daemon's view of the per-node control on its own Node (the hold and the reboot request): one watch of
 * that Node alone (`fieldSelector=metadata.name=NODE`), as the kubelet keeps one on its own Node. A hold or a
 * request placed with `kreboot hold` / `request-reboot` reaches the daemon within moments, in every phase,
 * and an idle node still sends no periodic request: the watch is one long request, which the API server ends
 * after 30 to 60 minutes (its `--min-request-timeout`) and which is then opened again. Until the watch has
 * delivered the Node (it does within moments of start-up: `current()` waits a second for it), `current()`
 * reads it instead.
 *
 * The loop reads its Node (boot ID, readiness) and computes its Node writes (lib/drain/node.ts) from
 * `current()` too. So that such a write does not start from the version before the daemon's own last write
 * (the reporter's condition, lib/report/reporter.ts), which would cost a conflict and a read, the reporter
 * announces each queued condition write (`expect`): `current()` waits for it (two seconds at most), and its
 * answer stands for the Node until the watch brings that version.
 */
import type * as k8s from "@kubernetes/client-node";
import type { Kube } from "../kube/mod.ts";
import { describeApiError } from "../kube/mod.ts";
import type { Logger } from "../log.ts";
import {
  type Hold,
  HOLD_ANNOTATION,
  holdOf,
  type NodeLike,
  type RebootRequest,
  rebootRequested,
  REQUEST_ANNOTATION,
  requestOf,
} from "./codec.ts";

type WatchKube = Pick<Kube, "core" | "watch">;

const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
/** How long `current()` waits for a new watch to deliver the Node before it reads it. */
const FIRST_EVENT_MS = 1_000;
/** How long `current()` waits at most for this daemon's own announced writes to the Node. */
const OWN_WRITES_MS = 2_000;
/** How many versions delivered by the watch are remembered, to tell an own write's answer the watch passed. */
const RECENT_VERSIONS = 16;

export class NodeControlWatch {
  readonly #kube: WatchKube;
  readonly #name: string;
  readonly #log: Logger;
  /** The Node as last delivered by the watch (kept while the watch restarts), or as last read. */
  #latest: k8s.V1Node | undefined;
  #fromWatch = false;
  /** Woken when the watch delivers the Node. */
  #deliveredWaiters = new Set<() => void>();
  /** This daemon's own writes to the Node, announced with `expect` and not answered yet. */
  #ownWrites = new Set<Promise<void>>();
  /** The resourceVersion of its own last write while the watch has not delivered it yet. */
  #ownRv: string | undefined;
  /** The versions the current watch delivered lately. */
  #recent: string[] = [];
  /** What of `#latest` the control depends on: the hold, the request and the boot ID. */
  #key: string | undefined;
  /** The control changed since it was last read: the next `changed()` resolves at once. */
  #pending = false;
  #waiters = new Set<() => void>();
  #abort: (() => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = true;
  #warned: string | undefined;
  /** Called with the Node whenever its hold, request or boot ID changed (for the metrics). */
  onChange: ((node: NodeLike) => void) | undefined;

  constructor(kube: WatchKube, name: string, log: Logger) {
    this.#kube = kube;
    this.#name = name;
    this.#log = log;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#open(FIRST_BACKOFF_MS);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#abort?.();
    this.#abort = undefined;
    for (const wake of [...this.#waiters]) wake();
    for (const wake of [...this.#deliveredWaiters]) wake();
  }

  /**
   * The Node as the watch last saw it (after this daemon's own announced writes); read from the API server
   * while the watch has not delivered it.
   */
  async current(): Promise<k8s.V1Node> {
    if (this.#ownWrites.size > 0) await within(OWN_WRITES_MS, Promise.all(this.#ownWrites));
    if (!this.#fromWatch && !this.#stopped) await within(FIRST_EVENT_MS, this.#delivered());
    if (!this.#fromWatch) {
      const node = await this.#kube.core.readNode({ name: this.#name });
      if (!this.#fromWatch) this.#see(node, false);
    }
    this.#pending = false;
    return this.#latest ?? {};
  }

  /**
   * A write of this daemon's to the Node, queued or under way, and the Node as it will leave it (undefined:
   * nothing written). `current()` waits for it, and its answer, newer than what the watch delivered so far,
   * stands for the Node until the watch brings that version.
   */
  expect(written: Promise<k8s.V1Node | undefined>): void {
    const settled: Promise<void> = written.then((node) => {
      if (node) this.#wrote(node);
    }, () => {}).finally(() => this.#ownWrites.delete(settled));
    this.#ownWrites.add(settled);
  }

  #wrote(node: k8s.V1Node): void {
    const rv = node.metadata?.resourceVersion;
    if (!this.#fromWatch || rv === undefined || this.#recent.includes(rv)) return;
    this.#see(node, true);
    this.#ownRv = rv;
  }

  #delivered(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#deliveredWaiters.delete(done);
        resolve();
      };
      this.#deliveredWaiters.add(done);
    });
  }

  /** The node's hold; throws when the Node cannot be read. */
  async hold(): Promise<Hold | undefined> {
    return holdOf(await this.current());
  }

  /**
   * The operator's request the node must act on now (`rebootRequested`). When the Node cannot be read, or the
   * request is unreadable, a warning and undefined: the sentinel alone decides then.
   */
  async request(): Promise<RebootRequest | undefined> {
    let node: NodeLike;
    try {
      node = await this.current();
    } catch (e) {
      this.#warnOnce(`cannot read this node's reboot request: ${describeApiError(e)}`);
      return undefined;
    }
    const r = requestOf(node);
    if (r?.problem !== undefined) this.#warnOnce(`${r.problem}; it requests nothing`);
    else this.#warned = undefined;
    return rebootRequested(node) ? r?.value : undefined;
  }

  /** Resolves when the hold, the request or the boot ID changed since they were last read, or on abort. */
  changed(signal: AbortSignal): Promise<void> {
    if (this.#pending || signal.aborted || this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#waiters.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.#waiters.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  #see(node: k8s.V1Node | undefined, fromWatch: boolean): void {
    this.#latest = node;
    this.#fromWatch = fromWatch && node !== undefined;
    if (this.#fromWatch) { for (const wake of [...this.#deliveredWaiters]) wake(); }
    const a = node?.metadata?.annotations ?? {};
    const key = JSON.stringify([a[HOLD_ANNOTATION], a[REQUEST_ANNOTATION], node?.status?.nodeInfo?.bootID]);
    if (key === this.#key) return;
    this.#key = key;
    this.#pending = true;
    for (const wake of [...this.#waiters]) wake();
    if (node !== undefined) this.onChange?.(node);
  }

  /** Says a problem once, not at every check, until it is gone. */
  #warnOnce(message: string): void {
    if (this.#warned === message) return;
    this.#warned = message;
    this.#log.warn(message);
  }

  #open(backoffMs: number): void {
    if (this.#stopped) return;
    const startedAt = Date.now();
    let ended = false;
    // The new watch begins with the Node as it is: newer than any own write so far.
    this.#ownRv = undefined;
    this.#recent = [];
    const end = (err: unknown) => {
      if (ended || this.#stopped) return;
      ended = true;
      this.#abort = undefined;
      // The server ends every watch after a while: one that ran for a while opens again at once; one that
      // keeps ending early (failing, or cut by something in between) backs off.
      const ranLong = Date.now() - startedAt > MAX_BACKOFF_MS;
      const wait = ranLong ? 0 : backoffMs;
      if (err !== null && err !== undefined) {
        this.#log.warn("the watch of this node ended; opening it again", {
          error: describeApiError(err),
          inMs: wait,
        });
      }
      const next = ranLong ? FIRST_BACKOFF_MS : Math.min(backoffMs * 2, MAX_BACKOFF_MS);
      this.#timer = setTimeout(() => this.#open(next), wait);
    };
    this.#kube.watch.watch(
      "/api/v1/nodes",
      { fieldSelector: `metadata.name=${this.#name}`, allowWatchBookmarks: true },
      (type, obj) => {
        if (ended || this.#stopped) return;
        if (type === "ADDED" || type === "MODIFIED") {
          const rv = (obj as k8s.V1Node).metadata?.resourceVersion ?? "";
          this.#recent = [...this.#recent.slice(-(RECENT_VERSIONS - 1)), rv];
          // Versions before this daemon's own last write are history: that write's answer is newer.
          if (this.#ownRv !== undefined && rv !== this.#ownRv) return;
          this.#ownRv = undefined;
          this.#see(obj as k8s.V1Node, true);
        } else if (type === "DELETED") this.#see(undefined, false);
      },
      (err) => end(err),
    ).then((ctl) => {
      if (ended || this.#stopped) ctl.abort();
      else this.#abort = () => ctl.abort();
    }, end);
  }
}

/** Waits for `p`, or `ms` at most. */
async function within(ms: number, p: Promise<unknown>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}
