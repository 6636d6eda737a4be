/**
 * Watches: the apiserver's watch stream is one JSON object per line (`{"type":…,"object":…}`,
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes).
 *
 * Two ways to use it:
 *  - `watch()`: one stream, with the callback shape of client-node's `Watch.watch` (the caller restarts it);
 *  - `follow()`: list, then watch from the list's resourceVersion with bookmarks, and keep it going: a stream
 *    the server ends resumes from the last resourceVersion seen (an event or a bookmark), and `410 Gone` (that
 *    version is too old) lists afresh, as client-go's reflector does.
 */
import { ApiError, apiStatus, TransportError } from "./errors.ts";
import type { Query, Transport } from "./transport.ts";
import { sleep } from "../sleep.ts";

export interface WatchEvent<T = unknown> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

/** The events of a watch response, one per line; unreadable lines are skipped. */
export async function* watchEvents(res: Response): AsyncGenerator<WatchEvent> {
  if (!res.body) return;
  let buf = "";
  for await (const chunk of res.body.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      const ev = parseLine(line);
      if (ev) yield ev;
    }
  }
  const ev = parseLine(buf.trim());
  if (ev) yield ev;
}

function parseLine(line: string): WatchEvent | undefined {
  if (line === "") return undefined;
  try {
    const v: unknown = JSON.parse(line);
    if (typeof v === "object" && v !== null && "type" in v && typeof v.type === "string") {
      return v as WatchEvent;
    }
  } catch {
    // A torn line from a broken connection: the stream ends next and is resumed.
  }
  return undefined;
}

/** The `Status` of an ERROR event as an `ApiError`, so `apiStatus` and `describeApiError` read it. */
function statusError(obj: unknown, what: string): ApiError {
  const code = typeof obj === "object" && obj !== null && "code" in obj && typeof obj.code === "number"
    ? obj.code
    : 500;
  return new ApiError(code, JSON.stringify(obj), {}, what);
}

/** An object's `metadata.resourceVersion`, undefined when it has none. */
export function resourceVersionOf(obj: unknown): string | undefined {
  const rv = (obj as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
  return typeof rv === "string" && rv !== "" ? rv : undefined;
}

export interface FollowOptions<T> {
  /** Collection path, e.g. `/apis/coordination.k8s.io/v1/namespaces/kube-system/leases`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Start by watching from here (the caller has just listed); without it, `follow` lists first. */
  resourceVersion?: string;
  /** The complete current state, after the first list and after every re-list (410 Gone). */
  onList(items: T[], resourceVersion: string): void;
  /** Every change after that. */
  onEvent(type: "ADDED" | "MODIFIED" | "DELETED", obj: T): void;
  /** A failed list or watch; `follow` retries after `retryInMs`. */
  onError?(e: unknown, retryInMs: number): void;
  /** How long the server keeps one stream open; default 5–10 min at random, as client-go does. */
  timeoutSeconds?: number;
  signal: AbortSignal;
}

const MAX_BACKOFF_MS = 30_000;

/** The apiserver's own choice for a watch that names no timeout: 30–60 min at random (--min-request-timeout). */
function serverDefaultTimeoutSeconds(): number {
  return 1800 + Math.floor(Math.random() * 1800);
}

export class Watch {
  readonly #t: Transport;
  readonly #graceMs: number;
  /**
   * `graceMs`: how long past its `timeoutSeconds` a stream may stay open before it counts as a dead connection
   * (the server ends every watch at its timeout; a connection that died silently never says so).
   */
  constructor(t: Transport, o: { graceMs?: number } = {}) {
    this.#t = t;
    this.#graceMs = o.graceMs ?? 30_000;
  }

  /** Aborts `ctl` if the stream outlives its timeout by the grace period; returns the clean-up. */
  #deadline(ctl: AbortController, timeoutSeconds: number, path: string): () => void {
    const t = setTimeout(
      () =>
        ctl.abort(
          new TransportError(`WATCH ${path}`, this.#t.server, "no end of the stream past its timeout"),
        ),
      timeoutSeconds * 1000 + this.#graceMs,
    );
    return () => clearTimeout(t);
  }

  /**
   * Opens one watch on `path` (with `watch=true` added). Resolves once the stream is open, or calls `done(err)`
   * when it could not be opened (never rejects); `done` is called exactly once, with null when the server ended
   * the stream. The returned controller aborts the stream (then `done` gets the abort reason). Without a
   * `timeoutSeconds` the server's own default is asked for explicitly, so a stream still open well past it (a
   * connection that died silently) is cut and reported through `done`.
   */
  async watch(
    path: string,
    query: Query,
    callback: (type: string, obj: unknown, raw: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const ctl = new AbortController();
    const timeoutSeconds = Number(query.timeoutSeconds) > 0
      ? Number(query.timeoutSeconds)
      : serverDefaultTimeoutSeconds();
    const clear = this.#deadline(ctl, timeoutSeconds, path);
    let called = false;
    const finish = (err: unknown) => {
      if (called) return;
      called = true;
      clear();
      ctl.abort();
      done(err);
    };
    let res: Response;
    try {
      res = await this.#t.stream({
        method: "GET",
        path,
        query: { ...query, timeoutSeconds, watch: true },
        signal: ctl.signal,
      });
    } catch (e) {
      finish(e);
      return ctl;
    }
    (async () => {
      for await (const ev of watchEvents(res)) callback(ev.type, ev.object, ev);
    })().then(() => finish(null), (e) => finish(ctl.signal.aborted ? ctl.signal.reason : e));
    return ctl;
  }

  /** Lists and watches `path` until `signal` aborts; resolves then. See the module comment. */
  async follow<T>(o: FollowOptions<T>): Promise<void> {
    const selectors: Query = { labelSelector: o.labelSelector, fieldSelector: o.fieldSelector };
    let rv = o.resourceVersion ?? "";
    let backoffMs = 0;
    while (!o.signal.aborted) {
      const openedAt = Date.now();
      let events = 0;
      try {
        if (rv === "") {
          const list = await this.#t.json<{ items: T[]; metadata?: { resourceVersion?: string } }>(
            { method: "GET", path: o.path, query: selectors, signal: o.signal },
          );
          rv = list.metadata?.resourceVersion ?? "";
          o.onList(list.items, rv);
        }
        const timeoutSeconds = o.timeoutSeconds ?? 300 + Math.floor(Math.random() * 300);
        const stream = new AbortController();
        const clear = this.#deadline(stream, timeoutSeconds, o.path);
        try {
          const res = await this.#t.stream({
            method: "GET",
            path: o.path,
            query: {
              ...selectors,
              watch: true,
              allowWatchBookmarks: true,
              resourceVersion: rv,
              timeoutSeconds,
            },
            signal: AbortSignal.any([o.signal, stream.signal]),
          });
          for await (const ev of watchEvents(res)) {
            if (ev.type === "ERROR") throw statusError(ev.object, `WATCH ${o.path}`);
            rv = resourceVersionOf(ev.object) ?? rv;
            events++;
            if (ev.type !== "BOOKMARK") o.onEvent(ev.type, ev.object as T);
          }
        } catch (e) {
          throw stream.signal.aborted ? stream.signal.reason : e;
        } finally {
          clear();
        }
        // The server ended the stream (its timeout, an apiserver restart): resume where it stopped. A stream
        // that ends at once, again and again, backs off like an error.
        backoffMs = events > 0 || Date.now() - openedAt > 1_000 ? 0 : nextBackoff(backoffMs);
      } catch (e) {
        if (o.signal.aborted) return;
        if (apiStatus(e) === 410) {
          rv = ""; // Gone: the version is compacted away; only a fresh list is complete.
          continue;
        }
        backoffMs = nextBackoff(backoffMs);
        o.onError?.(e, backoffMs);
      }
      await sleep(backoffMs, o.signal);
    }
  }
}

function nextBackoff(ms: number): number {
  return Math.min(MAX_BACKOFF_MS, Math.max(500, ms * 2));
}
