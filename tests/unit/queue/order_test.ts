import assert from "node:assert/strict";
import {
  actDelayMs,
  linePositions,
  nextToGo,
  queueOrder,
  type Room,
  type Waiter,
} from "../../../lib/queue/mod.ts";
import { seededRandom } from "../../harness/chaos.ts";

const w = (node: string, group: string, requiredSinceMs: number): Waiter => ({
  node,
  group,
  requiredSinceMs,
});
const rooms = (entries: Record<string, [allowed: number, inUse: number]>): Map<string, Room> =>
  new Map(Object.entries(entries).map(([g, [allowed, inUse]]) => [g, { allowed, inUse }]));
const NO_CAP = { cap: 0, inUse: 0 };
const names = (ws: readonly Waiter[]) => ws.map((x) => x.node);

Deno.test("longest required first; ties by node name; the input is not changed", () => {
  const input = [w("c", "a", 30), w("b", "a", 10), w("a", "a", 30), w("d", "a", 20)];
  assert.deepEqual(names(queueOrder(input)), ["b", "d", "a", "c"]);
  assert.deepEqual(names(input), ["c", "b", "a", "d"]);
  assert.deepEqual(
    [...linePositions([...input, w("x", "b", 99), w("y", "b", 1)])],
    [["y", 1], ["b", 1], ["d", 2], ["a", 3], ["c", 4], ["x", 2]],
  );
});

Deno.test("per group, as many go as the group has free slots", () => {
  const waiters = [
    w("a1", "a", 1),
    w("a2", "a", 2),
    w("a3", "a", 3),
    w("b1", "b", 5),
    w("b2", "b", 4),
    w("c1", "c", 0),
  ];
  assert.deepEqual(names(nextToGo(waiters, rooms({ a: [2, 0], b: [1, 0], c: [1, 1] }), NO_CAP)), [
    "a1",
    "a2",
    "b2",
  ]);
  assert.deepEqual(
    names(nextToGo(waiters, rooms({ a: [2, 1], b: [0, 0] }), NO_CAP)),
    ["a1"],
    "c has no room entry",
  );
  assert.deepEqual(names(nextToGo(waiters, rooms({ a: [1, 3] }), NO_CAP)), [], "over budget: nobody");
});

Deno.test("with --max-concurrency-total the longest-waiting heads across groups go", () => {
  const waiters = [w("a1", "a", 10), w("a2", "a", 11), w("b1", "b", 5), w("c1", "c", 20)];
  const r = rooms({ a: [1, 0], b: [1, 0], c: [1, 0] });
  assert.deepEqual(names(nextToGo(waiters, r, { cap: 3, inUse: 1 })), ["b1", "a1"]);
  assert.deepEqual(names(nextToGo(waiters, r, { cap: 3, inUse: 3 })), []);
  assert.deepEqual(names(nextToGo(waiters, r, { cap: 3, inUse: 5 })), [], "over the cap");
});

Deno.test("no starvation: ten nodes arriving one by one behind one slot go in arrival order", () => {
  // One slot; a node is required at t = 10·i and joins the line then; every 7 time units the holder finishes
  // and whoever is next in line takes the slot. Later arrivals never overtake earlier ones.
  const rnd = seededRandom(7);
  const order: string[] = [];
  let waiting: Waiter[] = [];
  let holder: string | undefined;
  let busyUntil = 0;
  const arrivals = Array.from({ length: 10 }, (_, i) => w(`n${i}`, "all", 10 * i + Math.floor(rnd() * 5)));
  for (let t = 0; order.length < arrivals.length; t++) {
    for (const a of arrivals) if (a.requiredSinceMs === t) waiting.push(a);
    if (holder !== undefined && t >= busyUntil) holder = undefined;
    const go = nextToGo(waiting, rooms({ all: [1, holder === undefined ? 0 : 1] }), NO_CAP);
    for (const g of go) {
      holder = g.node;
      busyUntil = t + 7 + Math.floor(rnd() * 20);
      order.push(g.node);
      waiting = waiting.filter((x) => x.node !== g.node);
    }
  }
  assert.deepEqual(order, arrivals.map((a) => a.node));
});

Deno.test("no starvation under a steady stream of newer arrivals, across groups with a total cap", () => {
  // Every node eventually goes, and none is overtaken by a node of its group that became required later.
  const rnd = seededRandom(2026);
  const groups = ["a", "b", "c"];
  let waiting: Waiter[] = [];
  const holding = new Map<string, { group: string; until: number }>();
  const went: Waiter[] = [];
  let next = 0;
  for (let t = 0; t < 5_000; t++) {
    if (t < 4_000 && rnd() < 0.3) waiting.push(w(`n${next++}`, groups[Math.floor(rnd() * 3)] ?? "a", t));
    for (const [n, h] of holding) if (t >= h.until) holding.delete(n);
    const inUse = (g: string) => [...holding.values()].filter((h) => h.group === g).length;
    const r = rooms(Object.fromEntries(groups.map((g) => [g, [1, inUse(g)]])));
    for (const g of nextToGo(waiting, r, { cap: 2, inUse: holding.size })) {
      holding.set(g.node, { group: g.group, until: t + 1 + Math.floor(rnd() * 8) });
      went.push(g);
      waiting = waiting.filter((x) => x.node !== g.node);
    }
  }
  assert.equal(waiting.length, 0, "everyone went");
  assert.equal(went.length, next);
  for (const g of groups) {
    const seq = went.filter((x) => x.group === g).map((x) => x.requiredSinceMs);
    assert.deepEqual(seq, [...seq].sort((x, y) => x - y), `group ${g} in required order`);
  }
});

Deno.test("actDelayMs: the next in line acts at once; the others step in one grace period apart", () => {
  const waiters = [w("a1", "a", 1), w("a2", "a", 2), w("a3", "a", 3), w("b1", "b", 0)];
  const r = rooms({ a: [1, 0], b: [1, 1] });
  assert.equal(actDelayMs("a1", waiters, r, NO_CAP, 5_000), 0);
  assert.equal(actDelayMs("a2", waiters, r, NO_CAP, 5_000), 5_000);
  assert.equal(actDelayMs("a3", waiters, r, NO_CAP, 5_000), 10_000);
  assert.equal(actDelayMs("b1", waiters, r, NO_CAP, 5_000), undefined, "no free slot in its group");
  assert.equal(actDelayMs("zz", waiters, r, NO_CAP, 5_000), undefined, "not waiting");
  // The total cap binds: b1 (oldest, its group free now) goes first; a1 waits one grace period.
  const open = rooms({ a: [1, 0], b: [1, 0] });
  assert.equal(actDelayMs("b1", waiters, open, { cap: 1, inUse: 0 }, 5_000), 0);
  assert.equal(actDelayMs("a1", waiters, open, { cap: 1, inUse: 0 }, 5_000), 5_000);
  assert.equal(actDelayMs("a2", waiters, open, { cap: 1, inUse: 0 }, 5_000), 10_000);
  assert.equal(actDelayMs("a1", waiters, open, { cap: 1, inUse: 1 }, 5_000), undefined, "cap reached");
});

Deno.test("on a handover exactly the nodes next in line act, however many wait", () => {
  for (const n of [10, 200, 1_000]) {
    const waiters = Array.from({ length: n }, (_, i) => w(`n${i}`, `g${i % 3}`, i));
    const r = rooms({ g0: [1, 0], g1: [1, 1], g2: [1, 1] });
    const acting = waiters.filter((x) => actDelayMs(x.node, waiters, r, NO_CAP, 1_000) === 0);
    assert.deepEqual(names(acting), ["n0"], `${n} waiters`);
  }
});
