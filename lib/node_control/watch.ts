/**
 * The daemon's view of the per-node control on its own Node (the hold and the reboot request): one watch of
 * that Node alone (`fieldSelector=metadata.name=NODE`), as the kubelet keeps one on its own Node. A hold or a
 * request placed with `kreboot hold` / `request-reboot` reaches the daemon within moments, in every phase,
 * and an idle node still sends no periodic request: the watch is one long request, which the API server ends
 * after 30 to 60 minutes (its `--min-request-timeout`) and which is then opened again. Until the watch has
 * delivered the Node (right after start-up, or with `--once`), `current()` reads it instead.
 */
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

export class NodeControlWatch {
  readonly #kube: WatchKube;
  readonly #name: string;
  readonly #log: Logger;
  /** The Node as last delivered by the watch (kept while the watch restarts), or as last read. */
  #latest: NodeLike | undefined;
  #fromWatch = false;
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
  }

  /** The Node as the watch last saw it; read from the API server while the watch has not delivered it. */
  async current(): Promise<NodeLike> {
    if (!this.#fromWatch) {
      const node = await this.#kube.core.readNode({ name: this.#name });
      if (!this.#fromWatch) this.#see(node, false);
    }
    this.#pending = false;
    return this.#latest ?? {};
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

  #see(node: NodeLike | undefined, fromWatch: boolean): void {
    this.#latest = node;
    this.#fromWatch = fromWatch && node !== undefined;
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
        if (type === "ADDED" || type === "MODIFIED") this.#see(obj as NodeLike, true);
        else if (type === "DELETED") this.#see(undefined, false);
      },
      (err) => end(err),
    ).then((ctl) => {
      if (ended || this.#stopped) ctl.abort();
      else this.#abort = () => ctl.abort();
    }, end);
  }
}
