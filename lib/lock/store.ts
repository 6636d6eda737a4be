/**
 * The storage the reboot lock needs, as one port: the lock's Leases (list, create, patch, delete, watch; no get,
 * which the daemon's RBAC in lib/rbac.ts does not grant)
 * and the few other objects it reads (the DaemonSet for kured's manual lock and the node count, Nodes to tell
 * whether a holder still exists and to count a group's nodes). lib/lock/kube_store.ts implements it against the API server; the unit tests
 * use an in-memory one, as client-go tests its leader election against a fake lock
 * (https://github.com/kubernetes/client-go/blob/master/tools/leaderelection/leaderelection_test.go).
 *
 * Objects cross this port as the plain JSON the API server sends; the pure codec (lib/lock/slots.ts) and the
 * pause (lib/lock/pause.ts) decode them. The only errors the lock acts on have their own classes below.
 */

/** A write lost a race: the resourceVersion it carried is stale, or the object it creates exists already. */
export class LeaseConflict extends Error {}

/** The Lease a write addresses does not exist. */
export class LeaseNotFound extends Error {}

/** A watch from a resourceVersion the server no longer has (410 Gone): the caller must list again. */
export class WatchExpired extends Error {}

/**
 * A watch asked for its initial state (`initial`) ended before sending it because the server does not stream
 * one: Kubernetes before 1.27, or 1.27-1.33 with the WatchList feature off (off by default in 1.33). The caller
 * lists and reads instead.
 */
export class InitialStateRefused extends Error {}

/** What a watch reports. `end` comes at most once. */
export interface WatchCallbacks {
  /** The server accepted the watch: from now on every change arrives as an event. */
  open(): void;
  /**
   * With `initial`: every object as it is was sent (as ADDED events), and this is the resourceVersion of that
   * state. Events after it are changes.
   */
  synced?(resourceVersion: string): void;
  /** ADDED, MODIFIED, DELETED, or BOOKMARK (an object with nothing but its `metadata.resourceVersion`). */
  event(type: string, obj: unknown): void;
  /**
   * The watch is over (the server closed it, or it failed: then `err` says why, a WatchExpired when the
   * resourceVersion it started from is too old). A transport may also report the abort that `stop()` caused
   * here: callers take an end after their own `stop()` for no failure.
   */
  end(err?: unknown): void;
}

export interface WatchHandle {
  /** Ends the watch. */
  stop(): void;
}

/**
 * What to watch. `initial`: the watch first streams the current state and says when it is complete (`synced`),
 * so that it replaces a list or a read (a "watch list":
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#streaming-lists).
 */
export type WatchTarget =
  /** The lock's Leases, from `resourceVersion` when given (events after a list). */
  | { kind: "leases"; resourceVersion?: string; initial?: boolean }
  | { kind: "daemonset"; initial?: boolean }
  | { kind: "node"; name: string };

export interface LeaseStore {
  /** True when writes are only validated by the server (`--dry-run`): nothing is stored. */
  readonly dryRun: boolean;
  /** Every Lease of this lock (labelled with the DaemonSet's name) and the list's resourceVersion. */
  listLeases(): Promise<{ items: unknown[]; resourceVersion: string }>;
  /** Throws LeaseConflict when a Lease of that name exists. */
  createLease(body: Record<string, unknown>): Promise<unknown>;
  /** A JSON merge patch. Throws LeaseConflict on a stale resourceVersion, LeaseNotFound when it is gone. */
  patchLease(name: string, patch: Record<string, unknown>): Promise<unknown>;
  /** Deleting a Lease that does not exist is not an error. */
  deleteLease(name: string): Promise<void>;
  /** The DaemonSet the lock is named after, or undefined when it does not exist. */
  readDaemonSet(): Promise<unknown | undefined>;
  /** How many Nodes there are, or match `labelSelector` (a group's nodes, for its percentages). */
  countNodes(labelSelector?: string): Promise<number>;
  /** Whether the Node exists; throws when that cannot be told (the API server is away). */
  nodeExists(name: string): Promise<boolean>;
  /** Whether the Node carries kreboot's own cordon (lib/drain/node.ts); throws when that cannot be told. */
  nodeCordonedByKreboot(name: string): Promise<boolean>;
  watch(target: WatchTarget, callbacks: WatchCallbacks): WatchHandle;
}
