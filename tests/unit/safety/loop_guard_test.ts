import assert from "node:assert/strict";
import {
  decodeLoopState,
  encodeLoopState,
  judgeLoop,
  type LoopSettings,
  type LoopState,
  NO_LOOP,
  type NodeHold,
  observeAfterReboot,
} from "../../../lib/safety/loop_guard.ts";

const T0 = Date.parse("2026-11-20T10:00:00Z");
const MIN = 60_000;
const HOUR = 60 * MIN;
const settings = (nowMs: number, more: Partial<LoopSettings> = {}): LoopSettings => ({
  nowMs,
  minIntervalMs: HOUR,
  maxConsecutive: 3,
  ...more,
});

/** A node's hold as the budgets work will keep it: here, in memory. */
class FakeHold implements NodeHold {
  held = false;
  reasons: string[] = [];
  isHeld(): Promise<boolean> {
    return Promise.resolve(this.held);
  }
  hold(reason: string): Promise<void> {
    this.held = true;
    this.reasons.push(reason);
    return Promise.resolve();
  }
}

/**
 * The guard as the loop will drive it, with a sentinel that survives every reboot: each time a reboot may
 * start, it reboots (a new boot ID, confirmed at once) and the sentinel is still set. Returns the reboot times.
 */
async function surviveReboots(untilMs: number, stepMs: number, hold: NodeHold, s0: LoopState = NO_LOOP) {
  let state = s0;
  const reboots: number[] = [];
  for (let now = T0; now < untilMs; now += stepMs) {
    const v = judgeLoop(state, settings(now), await hold.isHeld());
    state = v.state;
    if (v.action === "hold") await hold.hold(v.message);
    if (v.action !== "go") continue;
    reboots.push(now);
    state = observeAfterReboot(state, {
      bootId: `boot-${reboots.length}`,
      confirmedAtMs: now,
      sentinelRequired: true,
    });
  }
  return { reboots, state };
}

Deno.test("loop guard: a sentinel that survives the reboot means one reboot per --min-reboot-interval, then a hold", async () => {
  const hold = new FakeHold();
  const { reboots, state } = await surviveReboots(T0 + 10 * HOUR, 5 * MIN, hold);
  assert.deepEqual(reboots, [T0, T0 + HOUR, T0 + 2 * HOUR], "three reboots, an hour apart, then none");
  assert.equal(hold.reasons.length, 1, "held once");
  assert.match(
    hold.reasons[0] ?? "",
    /^reboot loop: 3 reboots in a row .* holds itself until a person releases it/,
  );
  assert.equal(state.count, 3);
  assert.equal(state.heldAtMs, T0 + 2 * HOUR + 5 * MIN, "held at the first look after the third reboot");
});

Deno.test("loop guard: the wait says RebootLoop's why and until when", () => {
  const s = observeAfterReboot(NO_LOOP, { bootId: "b1", confirmedAtMs: T0, sentinelRequired: true });
  assert.deepEqual(judgeLoop(s, settings(T0 + 10 * MIN), false), {
    action: "wait",
    state: s,
    retryAtMs: T0 + HOUR,
    message:
      "reboot loop: 1 reboot in a row left the sentinel saying a reboot is still required; the next reboot " +
      "waits for --min-reboot-interval (1h0m0s), until 2026-11-20T11:00:00.000Z",
  });
  assert.equal(judgeLoop(s, settings(T0 + HOUR), false).action, "go");
  assert.equal(judgeLoop(s, settings(T0 + MIN, { minIntervalMs: 0 }), false).action, "go", "0 = no wait");
});

Deno.test("loop guard: a reboot that clears the sentinel ends the loop; the same boot is counted once", () => {
  const one = observeAfterReboot(NO_LOOP, { bootId: "b1", confirmedAtMs: T0, sentinelRequired: true });
  assert.equal(observeAfterReboot(one, { bootId: "b1", confirmedAtMs: T0 + 5, sentinelRequired: true }), one);
  const two = observeAfterReboot(one, { bootId: "b2", confirmedAtMs: T0 + HOUR, sentinelRequired: true });
  assert.equal(two.count, 2);
  assert.deepEqual(
    observeAfterReboot(two, { bootId: "b3", confirmedAtMs: T0 + 2 * HOUR, sentinelRequired: false }),
    NO_LOOP,
  );
  assert.deepEqual(judgeLoop(NO_LOOP, settings(T0), false), { action: "go", state: NO_LOOP });
});

Deno.test("loop guard: held stays held; a person's release starts the count afresh; 0 never holds", async () => {
  const held: LoopState = { count: 3, lastRebootAtMs: T0, countedBootId: "b3", heldAtMs: T0 + MIN };
  assert.equal(judgeLoop(held, settings(T0 + 5 * HOUR), true).action, "held");
  assert.deepEqual(judgeLoop(held, settings(T0 + 5 * HOUR), false), { action: "go", state: NO_LOOP });
  const hold = new FakeHold();
  const never = await (async () => {
    let state = NO_LOOP;
    let reboots = 0;
    for (let now = T0; now < T0 + 6 * HOUR; now += HOUR) {
      const v = judgeLoop(state, settings(now, { maxConsecutive: 0 }), await hold.isHeld());
      if (v.action !== "go") continue;
      reboots++;
      state = observeAfterReboot(v.state, {
        bootId: `b${reboots}`,
        confirmedAtMs: now,
        sentinelRequired: true,
      });
    }
    return reboots;
  })();
  assert.equal(never, 6, "--max-consecutive-reboots=0: one reboot per interval, never a hold");
  assert.equal(hold.held, false);
});

Deno.test("loop guard: the state round-trips through the Node annotation; garbage starts afresh", () => {
  const s: LoopState = {
    count: 2,
    lastRebootAtMs: T0,
    countedBootId: "3f1c9a0e-77b2-4a7e-9b54-0c1d2e3f4a5b",
    heldAtMs: T0 + 1,
  };
  assert.deepEqual(decodeLoopState(encodeLoopState(s)), { state: s, problems: [] });
  assert.deepEqual(decodeLoopState(encodeLoopState(NO_LOOP)), { state: NO_LOOP, problems: [] });
  assert.deepEqual(decodeLoopState(undefined), { state: NO_LOOP, problems: [] });
  for (
    const raw of [
      "{",
      "[]",
      '{"v":1,"count":-1}',
      '{"v":1,"count":1.5}',
      '{"v":9,"count":1}',
      "x".repeat(5000),
    ]
  ) {
    const d = decodeLoopState(raw);
    assert.deepEqual(d.state, NO_LOOP, raw.slice(0, 20));
    assert.equal(d.problems.length, 1);
  }
  const odd = decodeLoopState(
    JSON.stringify({ v: 1, count: 1, lastReboot: "soon", bootId: "../../etc", heldAt: 5 }),
  );
  assert.deepEqual(odd, { state: { count: 1 }, problems: [] });
});
