/**
 * The fair queue as the lock keeps it: every waiting node's entry (lib/lock/queue_entry.ts) as listed and
 * watched, and the writes a node makes to its own entry (join, leave) and to those of nodes that did not take
 * their turn (pass over). Who goes next is lib/queue's pure order; lib/lock/plan.ts applies it.
 *
 * Every write here is best effort: a failed or lost write never blocks a reboot and never lets a node take a
 * slot it should not (the slots' compare-and-swap decides that); at worst the line is briefly out of date.
 */
import type { Logger } from "../log.ts";
import { compareWaiters } from "../queue/mod.ts";
import {
  decodeQueueEntry,
  entryCurrent,
  type EntryFields,
  newQueueEntry,
  passOverPatch,
  type QueueEntry,
  queueEntryPatch,
} from "./queue_entry.ts";
import { LeaseConflict, LeaseNotFound, type LeaseStore } from "./store.ts";

export class QueueBook {
  readonly #groupLabel: string;
  /** By node. */
  readonly #entries = new Map<string, QueueEntry>();
  /** The same entries in line order, kept sorted as events come (a waiter reads it on every wake-up). */
  #sorted: QueueEntry[] = [];

  constructor(groupLabel: string) {
    this.#groupLabel = groupLabel;
  }

  /** A complete read of the entries. */
  replaceAll(leases: unknown[]): void {
    this.#entries.clear();
    for (const lease of leases) {
      const e = decodeQueueEntry(lease, this.#groupLabel);
      if (e) this.#entries.set(e.node, e);
    }
    this.#sorted = [...this.#entries.values()].sort(compareWaiters);
  }

  /**
   * A watch event on an entry. True when it may move a waiter up the line: an entry left it or was passed over
   * (this node's own entry too: it then puts it back by trying again).
   */
  onEvent(type: string, lease: unknown): boolean {
    const e = decodeQueueEntry(lease, this.#groupLabel);
    const name = (lease as { metadata?: { name?: unknown } })?.metadata?.name;
    const prev = e ? this.#entries.get(e.node) : this.#sorted.find((x) => x.name === name);
    if (prev) {
      this.#entries.delete(prev.node);
      this.#sorted.splice(this.#sorted.indexOf(prev), 1);
    }
    if (type === "DELETED" || !e) return prev !== undefined;
    this.#entries.set(e.node, e);
    this.#sorted.splice(this.#placeOf(e), 0, e);
    if (e.passedOverBy !== undefined && prev?.passedOverBy === undefined) return true;
    return prev !== undefined && (prev.requiredSinceMs !== e.requiredSinceMs || prev.key !== e.key);
  }

  get(node: string): QueueEntry | undefined {
    return this.#entries.get(node);
  }

  /** Every entry, longest waiting first (ties by node name, lib/queue's order). */
  all(): readonly QueueEntry[] {
    return this.#sorted;
  }

  /** Where `e` goes in the sorted line (binary search). */
  #placeOf(e: QueueEntry): number {
    let lo = 0;
    let hi = this.#sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareWaiters(this.#sorted[mid]!, e) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Who waits, for a change check: entries' nodes, places and marks. */
  fingerprint(): string {
    return this.all().map((e) => `${e.node}@${e.requiredSinceMs}${e.key}${e.passedOverBy ? "!" : ""}`).join(
      ",",
    );
  }
}

export interface QueueWriter {
  store: LeaseStore;
  namespace: string;
  dsName: string;
  log: Logger;
}

/** Puts `f.node` in line (creates or rewrites its entry) unless its entry already says so. */
export async function joinQueue(w: QueueWriter, book: QueueBook, f: EntryFields): Promise<void> {
  if (w.store.dryRun) return;
  const entry = book.get(f.node);
  if (entry && entryCurrent(entry, f)) return;
  try {
    const written = entry
      ? await w.store.patchLease(entry.name, queueEntryPatch(entry.resourceVersion, f))
      : await w.store.createLease(newQueueEntry(w.namespace, w.dsName, f));
    book.onEvent(entry ? "MODIFIED" : "ADDED", written);
  } catch (e) {
    // Raced with its own earlier write, or with a node passing it over: the watch brings the entry, and the
    // next try writes again. Anything else is only logged: the line is advice, the slots decide.
    if (!(e instanceof LeaseConflict) && !(e instanceof LeaseNotFound)) {
      w.log.warn("could not write this node's queue entry", { error: describe(e) });
    }
  }
}

/** Takes `node`'s entry out of the queue (it got a slot, or no longer needs a reboot). */
export async function leaveQueue(w: QueueWriter, book: QueueBook, node: string): Promise<void> {
  const entry = book.get(node);
  if (!entry || w.store.dryRun) return;
  try {
    await w.store.deleteLease(entry.name);
    book.onEvent("DELETED", { metadata: { name: entry.name } });
  } catch (e) {
    w.log.warn("could not remove this node's queue entry", { error: describe(e) });
  }
}

/**
 * Marks the entries of `nodes` passed over by `by`: they were next in line and let their turn go by (their
 * daemon is gone, slow, or held back by a gate of its own), so they no longer hold the line up. A node whose
 * entry is passed over puts it back, in its old place, the next time it tries.
 */
export async function passOver(w: QueueWriter, book: QueueBook, nodes: string[], by: string): Promise<void> {
  if (w.store.dryRun) return;
  for (const node of nodes) {
    const entry = book.get(node);
    if (!entry || entry.passedOverBy !== undefined) continue;
    try {
      // The entry of a node that no longer exists is garbage: remove it rather than keep it out of line.
      if (!(await w.store.nodeExists(node).catch(() => true))) {
        await dropEntry(w, book, node);
        continue;
      }
      const written = await w.store.patchLease(entry.name, passOverPatch(entry.resourceVersion, by));
      book.onEvent("MODIFIED", written);
      w.log.info("passed over a node that did not take its turn", { passed: node });
    } catch (e) {
      if (!(e instanceof LeaseConflict) && !(e instanceof LeaseNotFound)) {
        w.log.warn("could not mark a queue entry passed over", { passed: node, error: describe(e) });
      }
    }
  }
}

/** Deletes the entry of `node`, whose Node is known to be gone (the entry can never be used again). */
export async function dropEntry(w: QueueWriter, book: QueueBook, node: string): Promise<void> {
  const entry = book.get(node);
  if (!entry || w.store.dryRun) return;
  try {
    await w.store.deleteLease(entry.name);
    book.onEvent("DELETED", { metadata: { name: entry.name } });
  } catch (e) {
    if (!(e instanceof LeaseNotFound)) {
      w.log.warn("could not remove a gone node's queue entry", { node, error: describe(e) });
    }
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
