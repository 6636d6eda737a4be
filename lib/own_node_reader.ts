/**
 * This node's Node object as the loop and the reporter read it. While the node is idle a read is one GET (an
 * idle node keeps nothing open and sends nothing); from the moment it needs a reboot until it is idle again a
 * watch follows the Node, and every read is answered from the watch: no GET before each try for a slot, none
 * every few seconds while the node recovers from its reboot. Every Node read is handed to `onRead` (the
 * reporter takes the Node's uid and its condition from the first, so a process reads its Node once, not twice).
 * The daemon's own writes to the Node (the condition) are awaited and their answers kept (`expect`), so that the
 * Node writes computed from a read here (lib/drain/node.ts) do not start from the version before them.
 */
import type * as k8s from "@kubernetes/client-node";
import type { Kube } from "./kube.ts";
import type { Logger } from "./log.ts";

/** How long a read waits for a new watch's first event (the Node as it is) before it reads instead. */
const FIRST_EVENT_MS = 1_000;
/** How long a read waits at most for this daemon's own queued writes to the Node. */
const OWN_WRITES_MS = 2_000;
/** How many versions delivered by the watch are remembered, to tell a write's answer that the watch passed. */
const RECENT_VERSIONS = 16;
const FIRST_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;

export class OwnNodeReader {
  readonly #kube: Pick<Kube, "core" | "watch">;
  readonly #name: string;
  readonly #log: Logger;
  readonly #onRead: (node: k8s.V1Node) => void;
  #following = false;
  /** The current watch; a new object on every (re)start. */
  #watch: { ctl?: AbortController; stopped: boolean } | undefined;
  /** The Node as the current watch last delivered it; undefined until it did (or after it was deleted). */
  #node: k8s.V1Node | undefined;
  /** The resourceVersion of our own last write while the watch has not delivered it yet. */
  #ownRv: string | undefined;
  /** The versions the current watch delivered lately (it may be ahead of a write's answer). */
  #recent: string[] = [];
  #heardWaiters = new Set<() => void>();
  /** Own writes to the Node announced with `expect` and not answered yet. */
  #pending = new Set<Promise<void>>();
  #restart: ReturnType<typeof setTimeout> | undefined;
  #backoffMs = FIRST_BACKOFF_MS;

  constructor(
    kube: Pick<Kube, "core" | "watch">,
    name: string,
    log: Logger,
    onRead: (node: k8s.V1Node) => void = () => {},
  ) {
    this.#kube = kube;
    this.#name = name;
    this.#log = log;
    this.#onRead = onRead;
  }

  /** The Node now: from the watch when it follows the Node and has delivered it, else one GET. */
  async read(): Promise<k8s.V1Node> {
    if (this.#pending.size > 0) await this.#ownWrites();
    if (this.#following && (this.#node ?? await this.#firstEvent())) {
      const node = this.#node;
      if (node) {
        this.#onRead(node);
        return node;
      }
    }
    const node = await this.#kube.core.readNode({ name: this.#name });
    this.#onRead(node);
    return node;
  }

  /**
   * A write of this daemon's to the Node, queued or under way, and the Node as it will leave it (undefined:
   * nothing written). Reads wait for it (a moment at most), and its answer, newer than anything the watch
   * delivered so far, answers them until the watch brings that version: the next write then starts from it,
   * not from the version before, which would cost a conflict and a read.
   */
  expect(written: Promise<k8s.V1Node | undefined>): void {
    const settled: Promise<void> = written.then((node) => {
      if (node) this.#wrote(node);
    }, () => {}).finally(() => this.#pending.delete(settled));
    this.#pending.add(settled);
  }

  #wrote(node: k8s.V1Node): void {
    const rv = node.metadata?.resourceVersion;
    if (!this.#watch || this.#node === undefined || rv === undefined || this.#recent.includes(rv)) return;
    this.#node = node;
    this.#ownRv = rv;
  }

  /** Starts following the Node with a watch (the node needs a reboot); idempotent. */
  follow(): void {
    if (this.#following) return;
    this.#following = true;
    this.#backoffMs = FIRST_BACKOFF_MS;
    this.#start();
  }

  /** Stops following (the node is idle again, or the daemon stops). */
  stop(): void {
    this.#following = false;
    if (this.#restart !== undefined) clearTimeout(this.#restart);
    this.#restart = undefined;
    this.#end();
  }

  #start(): void {
    const w: { ctl?: AbortController; stopped: boolean } = { stopped: false };
    this.#watch = w;
    this.#node = undefined;
    this.#ownRv = undefined;
    this.#recent = [];
    const startedAt = Date.now();
    const current = () => this.#following && this.#watch === w && !w.stopped;
    // No resourceVersion: the watch begins with the Node as it is (an ADDED event), then every change.
    this.#kube.watch.watch(
      "/api/v1/nodes",
      { fieldSelector: `metadata.name=${this.#name}`, allowWatchBookmarks: true },
      (type: string, obj: k8s.V1Node) => {
        if (!current()) return;
        if (type === "ADDED" || type === "MODIFIED") {
          const rv = obj.metadata?.resourceVersion ?? "";
          this.#recent = [...this.#recent.slice(-(RECENT_VERSIONS - 1)), rv];
          // Versions before our own last write are history: its answer is newer.
          if (this.#ownRv !== undefined && rv !== this.#ownRv) return;
          this.#ownRv = undefined;
          this.#node = obj;
        } else if (type === "DELETED") this.#node = undefined;
        else return;
        for (const wake of [...this.#heardWaiters]) wake();
      },
      (err: unknown) => {
        if (!current()) return;
        this.#end();
        // A watch that ran for a while restarts at once; one that keeps failing backs off.
        this.#backoffMs = Date.now() - startedAt > MAX_BACKOFF_MS
          ? FIRST_BACKOFF_MS
          : Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS);
        if (err) {
          this.#log.warn("the watch on this node ended; reading it meanwhile", {
            error: err instanceof Error ? err.message : String(err),
            inMs: this.#backoffMs,
          });
        }
        this.#restart = setTimeout(() => {
          this.#restart = undefined;
          if (this.#following) this.#start();
        }, this.#backoffMs);
      },
    ).then((ctl) => {
      w.ctl = ctl;
      if (w.stopped) ctl.abort();
    }, () => {
      // Reported through the done callback as well; the restart comes from there.
    });
  }

  #end(): void {
    const w = this.#watch;
    this.#watch = undefined;
    this.#node = undefined;
    if (w) {
      w.stopped = true;
      w.ctl?.abort();
    }
    for (const wake of [...this.#heardWaiters]) wake();
  }

  async #ownWrites(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((r) => (timer = setTimeout(r, OWN_WRITES_MS)));
    await Promise.race([Promise.all(this.#pending), late]);
    clearTimeout(timer);
  }

  /** Waits (a moment at most) for the current watch to deliver the Node; true when it did. */
  #firstEvent(): Promise<boolean> {
    if (!this.#watch) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#heardWaiters.delete(done);
        resolve(this.#node !== undefined);
      };
      const timer = setTimeout(done, FIRST_EVENT_MS);
      this.#heardWaiters.add(done);
    });
  }
}
