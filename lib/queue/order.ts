/**
 * The fair queue's order, as a pure function of what every waiter can see in the watched state: when a slot
 * frees, the node of that group whose reboot has been required longest goes next. Every observer computes
 * the same answer from the same state, so only the nodes next in line need to act on a handover (the lock
 * does the I/O; see the README's "Fair queue" paragraph).
 *
 * No starvation: a node's place depends only on when its reboot became required, which never changes
 * while it waits, so every newer arrival queues behind it and at most the nodes already ahead of it go
 * first.
 */

export interface Waiter {
  node: string;
  /** The group's `groupKey()` (lib/budget/group.ts). */
  group: string;
  /** When its reboot became required, epoch ms. */
  requiredSinceMs: number;
}

/** A group's slots: how many it may hold now and how many it holds. */
export interface Room {
  allowed: number;
  inUse: number;
}

export interface Total {
  /** `--max-concurrency-total`; 0 = no cap. */
  cap: number;
  inUse: number;
}

/** Longest waiting first; equal times by node name, so that every observer breaks ties alike. */
export function compareWaiters(
  a: Pick<Waiter, "node" | "requiredSinceMs">,
  b: Pick<Waiter, "node" | "requiredSinceMs">,
): number {
  if (a.requiredSinceMs !== b.requiredSinceMs) return a.requiredSinceMs - b.requiredSinceMs;
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0;
}

/** All waiters in queue order (a copy; the input is not changed). */
export function queueOrder(waiters: readonly Waiter[]): Waiter[] {
  return [...waiters].sort(compareWaiters);
}

/** Each waiter's 1-based place in its group's line, for status lines. */
export function linePositions(waiters: readonly Waiter[]): Map<string, number> {
  const seen = new Map<string, number>();
  const out = new Map<string, number>();
  for (const w of queueOrder(waiters)) {
    const n = (seen.get(w.group) ?? 0) + 1;
    seen.set(w.group, n);
    out.set(w.node, n);
  }
  return out;
}

function free(room: Room | undefined): number {
  return room === undefined ? 0 : Math.max(0, room.allowed - room.inUse);
}

/**
 * The waiters that should try to take a slot now, in queue order: in each group the first ones in line, as
 * many as the group has free slots; then, when `--max-concurrency-total` binds, only the longest-waiting of
 * those, as many as the cap leaves free. A group without an entry in `rooms` has no free slot.
 */
export function nextToGo(
  waiters: readonly Waiter[],
  rooms: ReadonlyMap<string, Room>,
  total: Total,
): Waiter[] {
  const taken = new Map<string, number>();
  const chosen: Waiter[] = [];
  for (const w of queueOrder(waiters)) {
    const n = taken.get(w.group) ?? 0;
    if (n >= free(rooms.get(w.group))) continue;
    taken.set(w.group, n + 1);
    chosen.push(w);
  }
  if (total.cap <= 0) return chosen;
  return chosen.slice(0, Math.max(0, total.cap - total.inUse));
}

/**
 * How long `me` should let a free slot stay free before it tries itself: 0 when it is next in line. When it
 * is not but its group (and the total) has a free slot, `graceMs` per node ahead of it that could have
 * taken that slot beyond the free ones — so a next-in-line that crashed or went silent costs a few seconds,
 * never a hang, and the others still step in one after the other rather than all at once. Undefined when
 * `me` is not waiting or there is no free slot it could take.
 */
export function actDelayMs(
  me: string,
  waiters: readonly Waiter[],
  rooms: ReadonlyMap<string, Room>,
  total: Total,
  graceMs: number,
): number | undefined {
  const mine = waiters.find((w) => w.node === me);
  if (mine === undefined) return undefined;
  if (nextToGo(waiters, rooms, total).some((w) => w.node === me)) return 0;
  const groupFree = free(rooms.get(mine.group));
  const totalFree = total.cap > 0 ? Math.max(0, total.cap - total.inUse) : Infinity;
  if (groupFree === 0 || totalFree === 0) return undefined;
  // Everyone ahead of me who could use a free slot: for my group's limit, my group's nodes; for the total
  // cap, the nodes of every group that has a free slot.
  const ahead = queueOrder(waiters.filter((w) => free(rooms.get(w.group)) > 0))
    .filter((w) => compareWaiters(w, mine) < 0);
  const groupExcess = ahead.filter((w) => w.group === mine.group).length - groupFree + 1;
  const totalExcess = ahead.length - totalFree + 1;
  return Math.max(groupExcess, totalExcess, 1) * graceMs;
}
