import assert from "node:assert/strict";
import {
  breakerLeaseName,
  decodeFailures,
  EMPTY_FAILURES,
  encodeFailures,
  type FailedReboot,
  type FailureRecord,
  isBreakerPause,
  judgeBreaker,
  MAX_KEPT_FAILURES,
  recordFailure,
  resetBreaker,
} from "../../../lib/safety/breaker.ts";

const T0 = Date.parse("2026-11-20T10:00:00Z");
const HOUR = 3_600_000;
const WINDOW = 24 * HOUR;

const fail = (
  node: string,
  atMs: number,
  kind: FailedReboot["kind"] = "not-ready",
  why = "did not come back Ready",
) => ({ node, atMs, kind, why });

function record(...failures: FailedReboot[]): FailureRecord {
  let r: FailureRecord = EMPTY_FAILURES;
  for (const f of failures) r = recordFailure(r, f, { windowMs: WINDOW, nowMs: f.atMs });
  return r;
}

Deno.test("breaker: off at 0, closed below N, open at N failures within the window, naming the nodes", () => {
  const r = record(
    fail("node-a", T0, "not-ready", "did not come back Ready within --recovery-timeout (10m0s)"),
    fail("node-b", T0 + HOUR, "boot-id-unchanged", "boot ID unchanged 5m0s after the reboot command"),
  );
  const now = T0 + 2 * HOUR;
  assert.deepEqual(judgeBreaker(r, { maxFailed: 0, windowMs: WINDOW, nowMs: now }), {
    open: false,
    counted: 2,
  });
  assert.deepEqual(judgeBreaker(r, { maxFailed: 3, windowMs: WINDOW, nowMs: now }), {
    open: false,
    counted: 2,
  });
  const open = judgeBreaker(r, { maxFailed: 2, windowMs: WINDOW, nowMs: now });
  assert.deepEqual(open, {
    open: true,
    counted: 2,
    reason: "circuit breaker: 2 failed reboots within 24h0m0s (node-a: did not come back Ready within " +
      "--recovery-timeout (10m0s); node-b: boot ID unchanged 5m0s after the reboot command); " +
      "check these nodes, then run kreboot resume",
  });
  assert.ok(open.open && isBreakerPause(open.reason));
  assert.ok(!isBreakerPause("maintenance by alice"));
  assert.ok(!isBreakerPause(undefined));
});

Deno.test("breaker: failures older than --failure-window do not count and are pruned on the next write", () => {
  const r = record(fail("node-a", T0), fail("node-b", T0 + 23 * HOUR));
  assert.equal(judgeBreaker(r, { maxFailed: 2, windowMs: WINDOW, nowMs: T0 + 23 * HOUR }).open, true);
  assert.deepEqual(judgeBreaker(r, { maxFailed: 2, windowMs: WINDOW, nowMs: T0 + 25 * HOUR }), {
    open: false,
    counted: 1,
  });
  const next = recordFailure(r, fail("node-c", T0 + 25 * HOUR), { windowMs: WINDOW, nowMs: T0 + 25 * HOUR });
  assert.deepEqual(next.failures.map((f) => f.node), ["node-b", "node-c"]);
});

Deno.test("breaker: kreboot resume closes it; only failures after the reset count again", () => {
  const r = resetBreaker(record(fail("node-a", T0), fail("node-b", T0 + HOUR)), T0 + 2 * HOUR);
  const s = { maxFailed: 2, windowMs: WINDOW, nowMs: T0 + 3 * HOUR };
  assert.deepEqual(judgeBreaker(r, s), { open: false, counted: 0 });
  assert.equal(r.failures.length, 2, "history is kept for kreboot status");
  const again = recordFailure(r, fail("node-c", T0 + 3 * HOUR), s);
  assert.equal(again.resetAtMs, T0 + 2 * HOUR);
  assert.deepEqual(judgeBreaker(again, s), { open: false, counted: 1 });
  const twice = recordFailure(again, fail("node-d", T0 + 3 * HOUR), s);
  assert.equal(judgeBreaker(twice, s).open, true);
});

Deno.test("breaker: the record round-trips through the Lease annotation and stays bounded", () => {
  const r = resetBreaker(record(fail("node-a", T0, "health-timeout", "x\n".repeat(500))), T0 + 5);
  const text = encodeFailures(r);
  const back = decodeFailures(text);
  assert.deepEqual(back.problems, []);
  assert.deepEqual(back.record.resetAtMs, T0 + 5);
  assert.equal(back.record.failures[0]?.kind, "health-timeout");
  assert.ok((back.record.failures[0]?.why.length ?? 0) <= 200);
  assert.doesNotMatch(back.record.failures[0]?.why ?? "", /\n/);
  const many = record(...Array.from({ length: 80 }, (_, i) => fail(`node-${i}`, T0 + i * 1000)));
  assert.equal(many.failures.length, MAX_KEPT_FAILURES);
  assert.equal(many.failures[0]?.node, "node-30", "the oldest are dropped");
  assert.ok(encodeFailures(many).length < 16 * 1024);
  assert.equal(breakerLeaseName("kured"), "kured-breaker");
});

Deno.test("breaker: hostile or broken annotations never throw and never count", () => {
  for (
    const [raw, why] of [["{", /not JSON/], ["[]", /not an object/], ['{"v":7}', /version 7/], [
      "x".repeat(70_000),
      /more than/,
    ]] as const
  ) {
    const d = decodeFailures(raw);
    assert.deepEqual(d.record, EMPTY_FAILURES);
    assert.match(d.problems[0] ?? "", why);
  }
  const d = decodeFailures(JSON.stringify({
    v: 1,
    failures: [
      { node: "node-a", at: new Date(T0).toISOString(), kind: "not-ready", why: "ok" },
      { node: "Node_A", at: new Date(T0).toISOString(), kind: "not-ready" },
      { node: "node-b", at: "yesterday", kind: "not-ready" },
      { node: "node-c", at: new Date(T0).toISOString(), kind: "exploded" },
      { node: "node-d", at: new Date(T0).toISOString(), kind: "not-ready", why: 42 },
      "node-e",
    ],
    resetAt: "not a time",
  }));
  assert.deepEqual(d.record, {
    failures: [
      { node: "node-a", atMs: T0, kind: "not-ready", why: "ok" },
      { node: "node-d", atMs: T0, kind: "not-ready", why: "" },
    ],
  });
  assert.match(d.problems[0] ?? "", /4 unreadable failures/);
  assert.deepEqual(decodeFailures(undefined), { record: EMPTY_FAILURES, problems: [] });
});
