/** Rows for the phases that hold a slot until the host goes down: cordoning, draining, reboot-delay, rebooting. */
import { blocked, clear, notReq, req, type Row, st, T } from "./support.ts";

const LOST = "its Lease was deleted";

export const DISRUPTING: Row[] = [
  // cordoning (holds a slot)
  {
    name: "cordoning, gates clear -> cordon",
    state: st("cordoning"),
    obs: { sentinel: req, gate: clear },
    expect: { phase: "cordoning", action: "cordon", wait: null, report: null },
  },
  {
    name: "cordoning, blocked after taking the slot -> release",
    state: st("cordoning"),
    obs: { sentinel: req, gate: blocked("window") },
    expect: { phase: "cordoning", action: "release", wait: null, report: "RebootBlocked" },
  },
  {
    name: "cordoning, sentinel gone -> release",
    state: st("cordoning"),
    obs: { sentinel: notReq, gate: clear },
    expect: { phase: "cordoning", action: "release", wait: null, report: "RebootNotRequired" },
  },
  {
    name: "cordoning after a restart, blocked -> retreating (an earlier process may have cordoned)",
    state: st("cordoning", { resumed: true }),
    obs: { sentinel: req, gate: blocked("pdb") },
    expect: { phase: "retreating", action: null, wait: null, report: "RebootBlocked" },
  },
  {
    name: "cordoning after a restart, sentinel gone -> retreating",
    state: st("cordoning", { resumed: true }),
    obs: { sentinel: notReq, gate: clear },
    expect: { phase: "retreating", action: null, wait: null, report: "RebootNotRequired" },
  },
  {
    name: "cordoning after a restart, gates clear -> cordon (kept for the cordon's sake)",
    state: st("cordoning", { resumed: true }),
    obs: { sentinel: req, gate: clear },
    expect: { phase: "cordoning", action: "cordon", wait: null, report: null },
  },
  {
    name: "cordoning, released -> idle",
    state: st("cordoning"),
    obs: { result: { action: "release", ok: true } },
    expect: { phase: "idle", action: null, wait: "period", report: "SlotReleased" },
  },
  {
    name: "cordoning, release failed -> retry",
    state: st("cordoning"),
    obs: { result: { action: "release", ok: false, error: "503" } },
    expect: { phase: "cordoning", action: null, wait: "ms", report: "ReleaseFailed" },
  },
  {
    name: "cordoning, cordoned -> draining",
    state: st("cordoning"),
    obs: { result: { action: "cordon", ok: true } },
    expect: { phase: "draining", action: null, wait: null, report: "Cordoned" },
  },
  {
    name: "cordoning, cordon failed -> retreating",
    state: st("cordoning"),
    obs: { result: { action: "cordon", ok: false, error: "403" } },
    expect: { phase: "retreating", action: null, wait: null, report: "DrainFailed" },
  },
  {
    name: "cordoning, cordon failed with --force-reboot -> reboot-delay",
    state: st("cordoning"),
    cfg: { forceReboot: true },
    obs: { result: { action: "cordon", ok: false, error: "403" } },
    expect: { phase: "reboot-delay", action: null, wait: null, report: "DrainFailed" },
  },
  {
    name: "cordoning, slot lost -> retreating, whatever else was seen",
    state: st("cordoning"),
    obs: { sentinel: req, gate: clear, slotLost: LOST },
    expect: { phase: "retreating", action: null, wait: null, report: "SlotLost" },
  },
  {
    name: "cordoning, slot lost beside a cordon result -> retreating",
    state: st("cordoning"),
    obs: { result: { action: "cordon", ok: true }, slotLost: LOST },
    expect: { phase: "retreating", action: null, wait: null, report: "SlotLost" },
  },
  // draining
  {
    name: "draining -> drain",
    state: st("draining"),
    obs: {},
    expect: { phase: "draining", action: "drain", wait: null, report: "Draining" },
  },
  {
    name: "draining, drained -> reboot-delay",
    state: st("draining"),
    obs: { result: { action: "drain", ok: true } },
    expect: { phase: "reboot-delay", action: null, wait: null, report: null },
  },
  {
    name: "draining, failed -> retreating",
    state: st("draining"),
    obs: { result: { action: "drain", ok: false, error: "timed out" } },
    expect: { phase: "retreating", action: null, wait: null, report: "DrainFailed" },
  },
  {
    name: "draining, failed with --force-reboot -> reboot-delay",
    state: st("draining"),
    cfg: { forceReboot: true },
    obs: { result: { action: "drain", ok: false, error: "timed out" } },
    expect: { phase: "reboot-delay", action: null, wait: null, report: "DrainFailed" },
  },
  {
    name: "draining, slot lost while the drain ran -> retreating, not reboot-delay",
    state: st("draining"),
    obs: { result: { action: "drain", ok: true }, slotLost: LOST },
    expect: { phase: "retreating", action: null, wait: null, report: "SlotLost" },
  },
  // reboot-delay
  {
    name: "reboot-delay, delay left -> wait",
    state: st("reboot-delay"),
    cfg: { rebootDelayMs: 30_000 },
    obs: { now: T + 10_000 },
    expect: { phase: "reboot-delay", action: null, wait: "ms", report: null },
  },
  {
    name: "reboot-delay, elapsed -> rebooting",
    state: st("reboot-delay"),
    cfg: { rebootDelayMs: 30_000 },
    obs: { now: T + 30_000 },
    expect: { phase: "rebooting", action: null, wait: null, report: null },
  },
  {
    name: "reboot-delay, dry run skips the delay",
    state: st("reboot-delay"),
    cfg: { rebootDelayMs: 30_000, dryRun: true },
    obs: {},
    expect: { phase: "rebooting", action: null, wait: null, report: null },
  },
  {
    name: "reboot-delay, slot lost -> retreating, never rebooting",
    state: st("reboot-delay"),
    cfg: { rebootDelayMs: 30_000 },
    obs: { now: T + 30_000, slotLost: LOST },
    expect: { phase: "retreating", action: null, wait: null, report: "SlotLost" },
  },
  // rebooting
  {
    name: "rebooting -> reboot",
    state: st("rebooting"),
    obs: {},
    expect: { phase: "rebooting", action: "reboot", wait: null, report: "Rebooting" },
  },
  {
    name: "rebooting, command returned -> wait for the host to go down",
    state: st("rebooting", { rebootAttempts: 1 }),
    obs: { result: { action: "reboot", ok: true } },
    expect: { phase: "rebooting", action: null, wait: "ms", report: null },
  },
  {
    name: "rebooting, host still up, timeout not reached -> wait the rest",
    state: st("rebooting", { rebootAttempts: 1 }),
    obs: { now: T + 20_000 },
    expect: { phase: "rebooting", action: null, wait: "ms", report: null },
  },
  {
    name: "rebooting, host still up after the timeout -> retry once",
    state: st("rebooting", { rebootAttempts: 1 }),
    obs: { now: T + 60_000 },
    expect: { phase: "rebooting", action: "reboot", wait: null, report: "RebootFailed" },
  },
  {
    name: "rebooting, still up after the retry -> a failed reboot for the circuit breaker, stay drained",
    state: st("rebooting", { rebootAttempts: 2 }),
    obs: { now: T + 60_000 },
    expect: { phase: "rebooting", action: "record-failure", wait: null, report: "RebootFailed" },
  },
  {
    name: "rebooting, failure recorded -> wait a period",
    state: st("rebooting", { rebootAttempts: 2 }),
    obs: { result: { action: "record-failure", ok: true } },
    expect: { phase: "rebooting", action: null, wait: "period", report: null },
  },
  {
    name: "rebooting, failure recorded and the breaker opened -> CircuitBreakerOpen",
    state: st("rebooting", { rebootAttempts: 2 }),
    obs: { result: { action: "record-failure", ok: true, opened: "circuit breaker: 2 failed reboots" } },
    expect: { phase: "rebooting", action: null, wait: "period", report: "CircuitBreakerOpen" },
  },
  {
    name: "rebooting, still up a period later, failure recorded -> stay drained, report again",
    state: st("rebooting", { rebootAttempts: 2, failureRecorded: true }),
    obs: { now: T + 60_000 },
    expect: { phase: "rebooting", action: null, wait: "period", report: "RebootFailed" },
  },
  {
    name: "rebooting, command failed -> retry once",
    state: st("rebooting", { rebootAttempts: 1 }),
    obs: { result: { action: "reboot", ok: false, error: "exit 1" } },
    expect: { phase: "rebooting", action: "reboot", wait: null, report: "RebootFailed" },
  },
  {
    name: "rebooting, dry run -> releasing (nothing was run)",
    state: st("rebooting", { rebootAttempts: 1 }),
    cfg: { dryRun: true },
    obs: { result: { action: "reboot", ok: true } },
    expect: { phase: "releasing", action: null, wait: null, report: null },
  },
  {
    name: "rebooting, a slot lost after the reboot command is no reason to stop -> ignored",
    state: st("rebooting", { rebootAttempts: 1 }),
    obs: { result: { action: "reboot", ok: true }, slotLost: LOST },
    expect: { phase: "rebooting", action: null, wait: "ms", report: null },
  },
];
