import assert from "node:assert/strict";
import {
  type Action,
  decide,
  type MachineConfig,
  type Observation,
  type Phase,
  type State,
  type Wait,
} from "../../lib/machine.ts";

const cfg: MachineConfig = {
  forceReboot: false,
  rebootDelayMs: 0,
  releaseDelayMs: 0,
  rebootTimeoutMs: 60_000,
  recoveryTimeoutMs: 600_000,
  dryRun: false,
};
const T = 1_000_000;
const st = (phase: Phase, extra: Partial<State> = {}): State => ({
  phase,
  since: T,
  rebootAttempts: 0,
  ...extra,
});
const clear = { clear: true as const };
const blocked = (reason: "window" | "alert" | "pod" | "pdb") => ({
  clear: false as const,
  reason,
  message: `blocked by ${reason}`,
});
const req = { required: true };
const notReq = { required: false };

interface Row {
  name: string;
  state: State;
  obs: Omit<Observation, "now"> & { now?: number };
  cfg?: Partial<MachineConfig>;
  phase: Phase;
  action?: Action["type"];
  wait?: Wait["kind"];
  report?: string;
}

const rows: Row[] = [
  // start-up recovery
  {
    name: "startup, no slot -> idle",
    state: st("startup"),
    obs: { slot: null },
    phase: "idle",
    wait: "none",
  },
  {
    name: "startup, slot with new boot ID -> recovering",
    state: st("startup"),
    obs: { slot: { phase: "rebooting", bootId: "a" }, node: { bootId: "b", ready: true } },
    phase: "recovering",
    report: "RebootConfirmed",
  },
  {
    name: "startup, slot in release-delay with new boot ID -> release-delay (keeps the delay)",
    state: st("startup"),
    obs: {
      slot: { phase: "release-delay", bootId: "a", releaseAfter: T + 5 },
      node: { bootId: "b", ready: true },
    },
    phase: "release-delay",
  },
  {
    name: "startup, slot, same boot ID, was draining -> draining (resume, never release)",
    state: st("startup"),
    obs: { slot: { phase: "draining", bootId: "a" }, node: { bootId: "a", ready: true } },
    phase: "draining",
    report: "Resumed",
  },
  {
    name: "startup, slot, same boot ID, was rebooting -> draining then reboot again",
    state: st("startup"),
    obs: { slot: { phase: "rebooting", bootId: "a" }, node: { bootId: "a", ready: true } },
    phase: "draining",
  },
  {
    name: "startup, slot, same boot ID, was cordoning -> cordoning (re-check gates)",
    state: st("startup"),
    obs: { slot: { phase: "cordoning", bootId: "a" }, node: { bootId: "a", ready: true } },
    phase: "cordoning",
  },
  {
    name: "startup, slot, same boot ID, was retreating -> retreating",
    state: st("startup"),
    obs: { slot: { phase: "retreating", bootId: "a" }, node: { bootId: "a", ready: true } },
    phase: "retreating",
  },
  {
    name: "startup, slot without a boot ID record, was rebooting -> recovering (no reboot loop)",
    state: st("startup"),
    obs: { slot: { phase: "rebooting" }, node: { bootId: "b", ready: true } },
    phase: "recovering",
    report: "RebootConfirmed",
  },
  {
    name: "startup, node without a boot ID, was rebooting -> recovering (no reboot loop)",
    state: st("startup"),
    obs: { slot: { phase: "rebooting", bootId: "a" }, node: { ready: true } },
    phase: "recovering",
    report: "RebootConfirmed",
  },
  {
    name: "startup, node without a boot ID, was draining -> draining (resume)",
    state: st("startup"),
    obs: { slot: { phase: "draining" }, node: { ready: true } },
    phase: "draining",
    report: "Resumed",
  },
  {
    name: "startup, slot with no readable phase -> retreating (garbage is not trusted)",
    state: st("startup"),
    obs: { slot: { bootId: "a" }, node: { bootId: "a", ready: true } },
    phase: "retreating",
    report: "Resumed",
  },
  {
    name: "startup, slot with an unknown phase -> retreating",
    state: st("startup"),
    obs: { slot: { phase: "idle", bootId: "a" }, node: { bootId: "a", ready: true } },
    phase: "retreating",
  },
  // idle
  {
    name: "idle, nothing observed -> wait period",
    state: st("idle"),
    obs: {},
    phase: "idle",
    wait: "period",
  },
  { name: "idle, not required", state: st("idle"), obs: { sentinel: notReq }, phase: "idle", wait: "period" },
  {
    name: "idle, sentinel error -> idle, reported, never a reboot",
    state: st("idle"),
    obs: { sentinel: { required: true, error: "sentinel command timed out" } },
    phase: "idle",
    wait: "period",
    report: "SentinelError",
  },
  {
    name: "idle, required -> required",
    state: st("idle"),
    obs: { sentinel: req },
    phase: "required",
    report: "RebootRequired",
  },
  // required / waiting
  {
    name: "required, gates clear -> acquire",
    state: st("required"),
    obs: { sentinel: req, gate: clear },
    phase: "required",
    action: "acquire",
  },
  {
    name: "required, window closed -> blocked, period",
    state: st("required"),
    obs: { sentinel: req, gate: blocked("window") },
    phase: "required",
    wait: "period",
    report: "RebootBlocked",
  },
  {
    name: "required, window closed with a known opening -> wait until it opens at the latest",
    state: st("required"),
    obs: { sentinel: req, gate: { ...blocked("window"), retryAtMs: T + 60_000 } },
    phase: "required",
    wait: "period",
  },
  {
    name: "required, alert -> blocked",
    state: st("required"),
    obs: { sentinel: req, gate: blocked("alert") },
    phase: "required",
    report: "RebootBlocked",
  },
  {
    name: "required, pod -> blocked",
    state: st("required"),
    obs: { sentinel: req, gate: blocked("pod") },
    phase: "required",
    report: "RebootBlocked",
  },
  {
    name: "required, pdb preflight -> blocked",
    state: st("required"),
    obs: { sentinel: req, gate: blocked("pdb") },
    phase: "required",
    report: "RebootBlocked",
  },
  {
    name: "required, sentinel gone -> idle",
    state: st("required"),
    obs: { sentinel: notReq },
    phase: "idle",
    report: "RebootNotRequired",
  },
  {
    name: "required, sentinel error -> idle",
    state: st("required"),
    obs: { sentinel: { required: false, error: "boom" } },
    phase: "idle",
    report: "SentinelError",
  },
  {
    name: "required, acquired -> cordoning",
    state: st("required"),
    obs: { result: { action: "acquire", acquired: true } },
    phase: "cordoning",
    report: "SlotAcquired",
  },
  {
    name: "required, all slots held -> waiting on the lock",
    state: st("required"),
    obs: { result: { action: "acquire", acquired: false, reason: "full", message: "held by n1" } },
    phase: "waiting",
    wait: "lock",
    report: "RebootBlocked",
  },
  {
    name: "required, paused -> waiting on the lock",
    state: st("required"),
    obs: { result: { action: "acquire", acquired: false, reason: "paused", message: "paused" } },
    phase: "waiting",
    wait: "lock",
  },
  {
    name: "waiting, woken, gates clear -> acquire",
    state: st("waiting"),
    obs: { sentinel: req, gate: clear },
    phase: "waiting",
    action: "acquire",
  },
  {
    name: "waiting, woken, gate blocked -> required",
    state: st("waiting"),
    obs: { sentinel: req, gate: blocked("alert") },
    phase: "required",
    wait: "period",
  },
  { name: "waiting, sentinel gone -> idle", state: st("waiting"), obs: { sentinel: notReq }, phase: "idle" },
  // cordoning (holds a slot)
  {
    name: "cordoning, gates clear -> cordon",
    state: st("cordoning"),
    obs: { sentinel: req, gate: clear },
    phase: "cordoning",
    action: "cordon",
  },
  {
    name: "cordoning, blocked after taking the slot -> release",
    state: st("cordoning"),
    obs: { sentinel: req, gate: blocked("window") },
    phase: "cordoning",
    action: "release",
    report: "RebootBlocked",
  },
  {
    name: "cordoning, sentinel gone -> release",
    state: st("cordoning"),
    obs: { sentinel: notReq, gate: clear },
    phase: "cordoning",
    action: "release",
  },
  {
    name: "cordoning, released -> idle",
    state: st("cordoning"),
    obs: { result: { action: "release", ok: true } },
    phase: "idle",
    wait: "period",
  },
  {
    name: "cordoning, cordoned -> draining",
    state: st("cordoning"),
    obs: { result: { action: "cordon", ok: true } },
    phase: "draining",
    report: "Cordoned",
  },
  {
    name: "cordoning, cordon failed -> retreating",
    state: st("cordoning"),
    obs: { result: { action: "cordon", ok: false, error: "403" } },
    phase: "retreating",
    report: "DrainFailed",
  },
  // draining
  {
    name: "draining -> drain",
    state: st("draining"),
    obs: {},
    phase: "draining",
    action: "drain",
    report: "Draining",
  },
  {
    name: "draining, drained -> reboot-delay",
    state: st("draining"),
    obs: { result: { action: "drain", ok: true } },
    phase: "reboot-delay",
  },
  {
    name: "draining, failed -> retreating",
    state: st("draining"),
    obs: { result: { action: "drain", ok: false, error: "timed out" } },
    phase: "retreating",
    report: "DrainFailed",
  },
  {
    name: "draining, failed with --force-reboot -> reboot-delay",
    state: st("draining"),
    cfg: { forceReboot: true },
    obs: { result: { action: "drain", ok: false, error: "timed out" } },
    phase: "reboot-delay",
    report: "DrainFailed",
  },
  // reboot-delay
  {
    name: "reboot-delay, delay left -> wait",
    state: st("reboot-delay"),
    cfg: { rebootDelayMs: 30_000 },
    obs: { now: T + 10_000 },
    phase: "reboot-delay",
    wait: "ms",
  },
  {
    name: "reboot-delay, elapsed -> rebooting",
    state: st("reboot-delay"),
    cfg: { rebootDelayMs: 30_000 },
    obs: { now: T + 30_000 },
    phase: "rebooting",
  },
  {
    name: "reboot-delay, dry run skips the delay",
    state: st("reboot-delay"),
    cfg: { rebootDelayMs: 30_000, dryRun: true },
    obs: {},
    phase: "rebooting",
  },
  // rebooting
  {
    name: "rebooting -> reboot",
    state: st("rebooting"),
    obs: {},
    phase: "rebooting",
    action: "reboot",
    report: "Rebooting",
  },
  {
    name: "rebooting, command returned -> wait for the host to go down",
    state: st("rebooting", { rebootAttempts: 1 }),
    obs: { result: { action: "reboot", ok: true } },
    phase: "rebooting",
    wait: "ms",
  },
  {
    name: "rebooting, host still up after the timeout -> retry once",
    state: st("rebooting", { rebootAttempts: 1 }),
    obs: { now: T + 60_000 },
    phase: "rebooting",
    action: "reboot",
    report: "RebootFailed",
  },
  {
    name: "rebooting, still up after the retry -> stay drained, report",
    state: st("rebooting", { rebootAttempts: 2 }),
    obs: { now: T + 60_000 },
    phase: "rebooting",
    wait: "period",
    report: "RebootFailed",
  },
  {
    name: "rebooting, command failed -> retry once",
    state: st("rebooting", { rebootAttempts: 1 }),
    obs: { result: { action: "reboot", ok: false, error: "exit 1" } },
    phase: "rebooting",
    action: "reboot",
    report: "RebootFailed",
  },
  {
    name: "rebooting, dry run -> releasing (nothing was run)",
    state: st("rebooting", { rebootAttempts: 1 }),
    cfg: { dryRun: true },
    obs: { result: { action: "reboot", ok: true } },
    phase: "releasing",
  },
  // recovering
  {
    name: "recovering, node NotReady -> wait",
    state: st("recovering"),
    obs: { node: { ready: false } },
    phase: "recovering",
    wait: "ms",
  },
  {
    name: "recovering, DaemonSet pods not Ready -> wait",
    state: st("recovering"),
    obs: { node: { ready: true }, daemonPodsReady: false },
    phase: "recovering",
    wait: "ms",
  },
  {
    name: "recovering, pods not Ready past the timeout -> uncordon anyway",
    state: st("recovering"),
    obs: { now: T + 600_000, node: { ready: true }, daemonPodsReady: false },
    phase: "uncordoning",
    report: "RebootConfirmed",
  },
  {
    name: "recovering, sentinel still there after the reboot -> uncordoning, reported, no reboot loop",
    state: st("recovering"),
    obs: { node: { ready: true }, daemonPodsReady: true, sentinel: { required: true } },
    phase: "uncordoning",
    report: "RebootConfirmed",
  },
  {
    name: "recovering, all Ready -> uncordoning",
    state: st("recovering"),
    obs: { node: { ready: true }, daemonPodsReady: true },
    phase: "uncordoning",
  },
  // uncordoning
  {
    name: "uncordoning -> uncordon",
    state: st("uncordoning"),
    obs: {},
    phase: "uncordoning",
    action: "uncordon",
  },
  {
    name: "uncordoning, done -> release-delay",
    state: st("uncordoning"),
    obs: { result: { action: "uncordon", ok: true } },
    phase: "release-delay",
    report: "Uncordoned",
  },
  {
    name: "uncordoning, failed -> retry",
    state: st("uncordoning"),
    obs: { result: { action: "uncordon", ok: false, error: "500" } },
    phase: "uncordoning",
    wait: "ms",
  },
  // release-delay
  {
    name: "release-delay, no delay -> releasing",
    state: st("release-delay"),
    obs: { slot: {} },
    phase: "releasing",
  },
  {
    name: "release-delay, delay not recorded -> record it on the Lease",
    state: st("release-delay"),
    cfg: { releaseDelayMs: 60_000 },
    obs: { slot: {} },
    phase: "release-delay",
    action: "set-release-after",
  },
  {
    name: "release-delay, recorded -> wait for it",
    state: st("release-delay"),
    cfg: { releaseDelayMs: 60_000 },
    obs: { result: { action: "set-release-after", ok: true, at: T + 60_000 } },
    phase: "release-delay",
    wait: "ms",
  },
  {
    name: "release-delay, recorded deadline not reached (after restart) -> wait",
    state: st("release-delay"),
    cfg: { releaseDelayMs: 60_000 },
    obs: { slot: { releaseAfter: T + 30_000 } },
    phase: "release-delay",
    wait: "ms",
  },
  {
    name: "release-delay, deadline passed -> releasing",
    state: st("release-delay"),
    cfg: { releaseDelayMs: 60_000 },
    obs: { now: T + 30_000, slot: { releaseAfter: T + 30_000 } },
    phase: "releasing",
  },
  // releasing / retreating
  { name: "releasing -> release", state: st("releasing"), obs: {}, phase: "releasing", action: "release" },
  {
    name: "releasing, released -> idle, a period away",
    state: st("releasing"),
    obs: { result: { action: "release", ok: true } },
    phase: "idle",
    wait: "period",
    report: "SlotReleased",
  },
  {
    name: "releasing, failed -> retry",
    state: st("releasing"),
    obs: { result: { action: "release", ok: false, error: "503" } },
    phase: "releasing",
    wait: "ms",
  },
  { name: "retreating -> retreat", state: st("retreating"), obs: {}, phase: "retreating", action: "retreat" },
  {
    name: "retreating, done -> releasing",
    state: st("retreating"),
    obs: { result: { action: "retreat", ok: true } },
    phase: "releasing",
  },
  {
    name: "retreating, failed -> retry",
    state: st("retreating"),
    obs: { result: { action: "retreat", ok: false, error: "500" } },
    phase: "retreating",
    wait: "ms",
  },
];

for (const row of rows) {
  Deno.test(`decide(): ${row.name}`, () => {
    const d = decide(row.state, { now: T, ...row.obs }, { ...cfg, ...row.cfg });
    assert.equal(d.state.phase, row.phase);
    assert.equal(d.action?.type, row.action);
    if (row.wait) assert.equal(d.wait.kind, row.wait);
    if (row.report) assert.equal(d.report?.reason, row.report);
    if (d.state.phase !== row.state.phase) assert.equal(d.state.since, row.obs.now ?? T);
  });
}

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
      { node: { ready: true }, daemonPodsReady: true },
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
