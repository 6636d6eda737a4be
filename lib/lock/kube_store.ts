/**
 * The lock's storage (lib/lock/store.ts) on the API server: `coordination.k8s.io/v1` Leases labelled with the
 * DaemonSet's name, in the DaemonSet's namespace. Every write goes with `dryRun=All` under `--dry-run`.
 */
import {
  apiStatus,
  describeApiError,
  dryRunParam,
  isConflict,
  isNotFound,
  type Kube,
  MERGE_PATCH,
  resourceVersionOf,
} from "../kube/mod.ts";
import { CORDONED_BY_KREBOOT } from "../drain/node.ts";
import { LOCK_LABEL } from "./slots.ts";
import {
  InitialStateRefused,
  LeaseConflict,
  LeaseNotFound,
  type LeaseStore,
  type WatchCallbacks,
  WatchExpired,
  type WatchHandle,
  type WatchTarget,
} from "./store.ts";

/** Why a watch ended, as the lock acts on it. `initialPending`: it was asked for an initial state it never sent. */
function watchError(err: unknown, initialPending: boolean): unknown {
  const status = apiStatus(err);
  if (status === 410) return new WatchExpired(describeApiError(err), { cause: err });
  // 422 (Invalid: sendInitialEvents is forbidden with the WatchList feature off) or 400.
  if (initialPending && (status === 422 || status === 400)) {
    return new InitialStateRefused(describeApiError(err), { cause: err });
  }
  return err;
}

/** The bookmark that ends a watch's initial events carries this annotation. */
const INITIAL_EVENTS_END = "k8s.io/initial-events-end";

function initialEventsEnd(obj: unknown): boolean {
  const a = (obj as { metadata?: { annotations?: Record<string, unknown> } })?.metadata?.annotations;
  return a?.[INITIAL_EVENTS_END] === "true";
}

/** An API error as one line, keeping the original as the cause. */
function apiError(e: unknown): Error {
  return new Error(describeApiError(e), { cause: e });
}

export class KubeLeaseStore implements LeaseStore {
  readonly #kube: Kube;
  readonly #ns: string;
  readonly #ds: string;

  constructor(kube: Kube, where: { namespace: string; dsName: string }) {
    this.#kube = kube;
    this.#ns = where.namespace;
    this.#ds = where.dsName;
  }

  get dryRun(): boolean {
    return this.#kube.dryRun;
  }

  async listLeases(): Promise<{ items: unknown[]; resourceVersion: string }> {
    try {
      const list = await this.#kube.coord.listNamespacedLease({
        namespace: this.#ns,
        labelSelector: `${LOCK_LABEL}=${this.#ds}`,
      });
      return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? "" };
    } catch (e) {
      throw apiError(e);
    }
  }

  async createLease(body: Record<string, unknown>): Promise<unknown> {
    try {
      return await this.#kube.coord.createNamespacedLease({
        namespace: this.#ns,
        body: body as never,
        ...dryRunParam(this.#kube),
      });
    } catch (e) {
      if (isConflict(e)) throw new LeaseConflict(describeApiError(e), { cause: e });
      throw apiError(e);
    }
  }

  async patchLease(name: string, patch: Record<string, unknown>): Promise<unknown> {
    try {
      return await this.#kube.coord.patchNamespacedLease(
        { name, namespace: this.#ns, body: patch, ...dryRunParam(this.#kube) },
        MERGE_PATCH,
      );
    } catch (e) {
      if (isConflict(e)) throw new LeaseConflict(describeApiError(e), { cause: e });
      if (isNotFound(e)) throw new LeaseNotFound(describeApiError(e), { cause: e });
      throw apiError(e);
    }
  }

  async deleteLease(name: string): Promise<void> {
    try {
      await this.#kube.coord.deleteNamespacedLease({ name, namespace: this.#ns, ...dryRunParam(this.#kube) });
    } catch (e) {
      if (!isNotFound(e)) throw apiError(e);
    }
  }

  async readDaemonSet(): Promise<unknown | undefined> {
    try {
      return await this.#kube.apps.readNamespacedDaemonSet({ name: this.#ds, namespace: this.#ns });
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw apiError(e);
    }
  }

  async countNodes(labelSelector?: string): Promise<number> {
    try {
      return (await this.#kube.core.listNode(labelSelector === undefined ? {} : { labelSelector })).items
        .length;
    } catch (e) {
      throw apiError(e);
    }
  }

  async nodeExists(name: string): Promise<boolean> {
    try {
      await this.#kube.core.readNode({ name });
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw apiError(e);
    }
  }

  async nodeCordonedByKreboot(name: string): Promise<boolean> {
    try {
      const node = await this.#kube.core.readNode({ name });
      return node.metadata?.annotations?.[CORDONED_BY_KREBOOT] !== undefined;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw apiError(e);
    }
  }

  watch(target: WatchTarget, cb: WatchCallbacks): WatchHandle {
    const [path, query] = this.#watchPath(target);
    let stopped = false;
    let ended = false;
    let ctl: AbortController | undefined;
    const end = (err?: unknown) => {
      if (stopped || ended) return;
      ended = true;
      cb.end(err ?? undefined);
    };
    const initial = target.kind !== "node" && target.initial === true;
    let synced = false;
    // Asked for, the initial state comes as ADDED events and then a bookmark that says so.
    const streamed = initial ? { sendInitialEvents: true, resourceVersionMatch: "NotOlderThan" } : {};
    this.#kube.watch.watch(path, { ...query, ...streamed, allowWatchBookmarks: true }, (type, obj) => {
      if (stopped || ended) return;
      if (type === "BOOKMARK" && initial && !synced && initialEventsEnd(obj)) {
        synced = true;
        cb.synced?.(resourceVersionOf(obj) ?? "");
        return;
      }
      if (type === "ERROR") {
        // The server ends a watch from a resourceVersion it no longer has with a Status of code 410.
        if ((obj as { code?: unknown } | undefined)?.code === 410) {
          end(new WatchExpired("watch expired (410 Gone)"));
        }
        return;
      }
      cb.event(type, obj);
    }, (err) => end(watchError(err, initial && !synced)))
      .then((c) => {
        ctl = c;
        if (stopped) c.abort();
        // client-node reports a failed request through `done` and still resolves: only a watch that has not
        // ended by now is open.
        else if (!ended) cb.open();
      }, (err) => end(err));
    return {
      stop() {
        stopped = true;
        ctl?.abort();
      },
    };
  }

  #watchPath(t: WatchTarget): [string, Record<string, string>] {
    switch (t.kind) {
      case "leases":
        return [`/apis/coordination.k8s.io/v1/namespaces/${this.#ns}/leases`, {
          labelSelector: `${LOCK_LABEL}=${this.#ds}`,
          ...(t.resourceVersion ? { resourceVersion: t.resourceVersion } : {}),
        }];
      case "daemonset":
        return [`/apis/apps/v1/namespaces/${this.#ns}/daemonsets`, {
          fieldSelector: `metadata.name=${this.#ds}`,
        }];
      case "node":
        return ["/api/v1/nodes", { fieldSelector: `metadata.name=${t.name}` }];
    }
  }
}
