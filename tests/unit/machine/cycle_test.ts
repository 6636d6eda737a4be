/** decide() over several steps: a whole cycle, a failed drain and a lost slot reported at the release. */
import assert from "node:assert/strict";
import {
  decide,
  GUARDED_PHASES,
  HOLDING_PHASES,
  type Observation,
  type Phase,
  PHASES,
  REPORT_REASONS,
  type State,
} from "../../../lib/machine/mod.ts";
import { blocked, CFG as cfg, clear, req, st, T, timedOut } from "./support.ts";

Deno.test("decide(): a closed window with a known opening waits until then at the latest", () => {
  const d = decide(st("required"), {
    now: T,
    sentinel: req,
    gate: { ...blocked("window"), retryAtMs: T + 60_000 },
  }, cfg);
  assert.deepEqual(d.wait, { kind: "period", untilMs: T + 60_000 });
  const plain = decide(st("required"), { now: T, sentinel: req, gate: blocked("alert") }, cfg);
  assert.deepEqual(plain.wait, { kind: "period" });
});

Deno.test("decide(): a failed drain is reported again when the slot is released", () => {
  let d = decide(st("draining"), {
    now: T,
    result: { action: "drain", ok: false, error: "PDB web blocks pod web-1" },
  }, cfg);
  d = decide(d.state, { now: T, result: { action: "retreat", ok: true } }, cfg);
  assert.equal(d.state.phase, "releasing");
  d = decide(d.state, { now: T, result: { action: "release", ok: true } }, cfg);
  assert.equal(d.state.phase, "idle");
  assert.match(d.report?.message ?? "", /PDB web blocks pod web-1/);
});

Deno.test("decide(): a lost slot in every guarded phase retreats, says why, and the release says it again", () => {
  const why = "its Lease was taken by n2";
  for (const phase of GUARDED_PHASES) {
    let d = decide(st(phase), { now: T + 7, slotLost: why, result: { action: "drain", ok: true } }, cfg);
    assert.equal(d.state.phase, "retreating", phase);
    assert.equal(d.state.since, T + 7);
    assert.equal(d.action, undefined);
    assert.deepEqual(d.report, {
      reason: "SlotLost",
      message: `lost the slot (${why}); undoing the cordon and stopping`,
    });
    d = decide(d.state, { now: T, result: { action: "retreat", ok: true } }, cfg);
    d = decide(d.state, { now: T, result: { action: "release", ok: true } }, cfg);
    assert.deepEqual(d.report, { reason: "SlotReleased", message: `slot released after: ${why}` }, phase);
  }
});

Deno.test("decide(): a failure's report always carries its error text", () => {
  const cases: [Phase, Observation["result"], RegExp][] = [
    [
      "cordoning",
      { action: "cordon", ok: false, error: "nodes is forbidden" },
      /^cordon failed: nodes is forbidden;/,
    ],
    ["draining", { action: "drain", ok: false, error: "PDB web" }, /^PDB web; undoing the cordon/],
    ["rebooting", { action: "reboot", ok: false, error: "exit 1" }, /^reboot command failed: exit 1;/],
    [
      "uncordoning",
      { action: "uncordon", ok: false, error: "HTTP 500" },
      /^uncordon failed: HTTP 500; retrying$/,
    ],
    [
      "retreating",
      { action: "retreat", ok: false, error: "HTTP 500" },
      /^retreat failed: HTTP 500; retrying$/,
    ],
    [
      "releasing",
      { action: "release", ok: false, error: "HTTP 503" },
      /^release failed: HTTP 503; retrying$/,
    ],
  ];
  for (const [phase, result, message] of cases) {
    const state: State = st(phase, phase === "rebooting" ? { rebootAttempts: 1 } : {});
    const d = decide(state, { now: T, ...(result ? { result } : {}) }, cfg);
    assert.match(d.report?.message ?? "", message, phase);
    assert.equal(REPORT_REASONS[d.report!.reason], "Warning", `${phase}: ${d.report?.reason}`);
  }
});

Deno.test("phase sets: the guarded phases hold a slot and come before the reboot", () => {
  for (const p of GUARDED_PHASES) assert.ok(HOLDING_PHASES.has(p), p);
  assert.deepEqual([...GUARDED_PHASES], ["cordoning", "draining", "reboot-delay"]);
  // Every phase from taking the slot on holds it, and no phase before.
  assert.deepEqual([...HOLDING_PHASES], PHASES.slice(PHASES.indexOf("cordoning")));
});

Deno.test("decide(): a full happy cycle visits every phase in order", () => {
  const seen: Phase[] = [];
  let state = st("startup");
  const feed: Omit<Observation, "now">[] = [
    { slot: null },
    { sentinel: req },
    { sentinel: req, gate: clear },
    { result: { action: "acquire", acquired: true } },
    { sentinel: req, gate: clear },
    { result: { action: "cordon", ok: true } },
    {},
    { result: { action: "drain", ok: true } },
    {},
    {},
    { result: { action: "reboot", ok: true } },
  ];
  for (const obs of feed) {
    state = decide(state, { now: T, ...obs }, cfg).state;
    if (seen.at(-1) !== state.phase) seen.push(state.phase);
  }
  // The host goes down here; the restarted daemon starts over at startup.
  state = st("startup");
  for (
    const obs of [
      { slot: { phase: "rebooting", bootId: "a" }, node: { bootId: "b", ready: true } },
      { health: { state: "healthy" as const }, sentinel: { required: false } },
      { result: { action: "note-reboot" as const, ok: true as const } },
      {},
      { result: { action: "uncordon" as const, ok: true as const } },
      { slot: {} },
      {},
      { result: { action: "release" as const, ok: true as const } },
    ]
  ) {
    state = decide(state, { now: T, ...obs }, cfg).state;
    if (seen.at(-1) !== state.phase) seen.push(state.phase);
  }
  assert.deepEqual(seen, [
    "idle",
    "required",
    "cordoning",
    "draining",
    "reboot-delay",
    "rebooting",
    "recovering",
    "uncordoning",
    "release-delay",
    "releasing",
    "idle",
  ]);
});

Deno.test("decide(): a health gate that times out records the failed reboot before the slot is given back", () => {
  let state = st("recovering");
  const actions: string[] = [];
  const reports: string[] = [];
  const feed: Omit<Observation, "now">[] = [
    { health: timedOut(true), sentinel: { required: false } },
    { result: { action: "record-failure", ok: true, opened: "circuit breaker: 2 failed reboots (a, b)" } },
    { health: timedOut(true), sentinel: { required: false } },
    { result: { action: "note-reboot", ok: true } },
    {},
    { result: { action: "uncordon", ok: true } },
    { slot: {} },
    {},
  ];
  for (const obs of feed) {
    const d = decide(state, { now: T + 600_000, ...obs }, cfg);
    state = d.state;
    if (d.action) actions.push(d.action.type);
    if (d.report) reports.push(d.report.reason);
  }
  assert.deepEqual(actions, ["record-failure", "note-reboot", "uncordon", "release"]);
  assert.deepEqual(reports, ["RecoveryIncomplete", "CircuitBreakerOpen", "Uncordoned"]);
  assert.equal(state.phase, "releasing");
});
