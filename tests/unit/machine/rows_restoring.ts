/** Rows for putting the node back and giving the slot back: recovering … releasing, and retreating. */
import { healthy, notReq, req, type Row, st, T, timedOut, unhealthy } from "./support.ts";

export const RESTORING: Row[] = [
  // recovering: the health gate, the circuit breaker, the reboot-loop guard
  {
    name: "recovering, nothing observed yet -> wait",
    state: st("recovering"),
    obs: {},
    expect: { phase: "recovering", action: null, wait: "ms", report: null },
  },
  {
    name: "recovering, not healthy yet -> wait and look again",
    state: st("recovering"),
    obs: { health: unhealthy },
    expect: { phase: "recovering", action: null, wait: "ms", report: null },
  },
  {
    name: "recovering, only the Ready streak missing -> wait until it is complete",
    state: st("recovering"),
    obs: { health: { ...unhealthy, retryAtMs: T + 30_000 } },
    expect: { phase: "recovering", action: null, wait: "ms", report: null },
  },
  {
    name: "recovering, healthy -> tell the reboot-loop guard about the sentinel",
    state: st("recovering"),
    obs: { health: healthy, sentinel: notReq },
    expect: { phase: "recovering", action: "note-reboot", wait: null, report: null },
  },
  {
    name: "recovering, guard told, no loop -> uncordoning",
    state: st("recovering"),
    obs: { result: { action: "note-reboot", ok: true } },
    expect: { phase: "uncordoning", action: null, wait: null, report: null },
  },
  {
    name: "recovering, sentinel still there after the reboot -> uncordoning, RebootLoop, no reboot at once",
    state: st("recovering"),
    obs: { result: { action: "note-reboot", ok: true, loop: "reboot loop: 1 reboot in a row ..." } },
    expect: { phase: "uncordoning", action: null, wait: null, report: "RebootLoop" },
  },
  {
    name: "recovering, the guard's count could not be written -> retry",
    state: st("recovering"),
    obs: { result: { action: "note-reboot", ok: false, error: "nodes is forbidden" } },
    expect: { phase: "recovering", action: null, wait: "ms", report: "SafetyRecordFailed" },
  },
  {
    name: "recovering, health gate timed out on a Ready node -> a failed reboot for the breaker",
    state: st("recovering"),
    obs: { now: T + 600_000, health: timedOut(true) },
    expect: { phase: "recovering", action: "record-failure", wait: null, report: "RecoveryIncomplete" },
  },
  {
    name: "recovering, never came back Ready -> a failed reboot for the breaker",
    state: st("recovering"),
    obs: { now: T + 600_000, health: timedOut(false) },
    expect: { phase: "recovering", action: "record-failure", wait: null, report: "RecoveryIncomplete" },
  },
  {
    name: "recovering, failure recorded -> look once more, at once",
    state: st("recovering"),
    obs: { result: { action: "record-failure", ok: true } },
    expect: { phase: "recovering", action: null, wait: null, report: null },
  },
  {
    name: "recovering, failure recorded and the breaker opened -> CircuitBreakerOpen",
    state: st("recovering"),
    obs: { result: { action: "record-failure", ok: true, opened: "circuit breaker: 2 failed reboots ..." } },
    expect: { phase: "recovering", action: null, wait: null, report: "CircuitBreakerOpen" },
  },
  {
    name: "recovering, the failure could not be recorded -> retry, holding the slot",
    state: st("recovering"),
    obs: { result: { action: "record-failure", ok: false, error: "leases is forbidden" } },
    expect: { phase: "recovering", action: null, wait: "ms", report: "SafetyRecordFailed" },
  },
  {
    name: "recovering, timed out and recorded, node Ready -> on to the guard, then uncordon and release",
    state: st("recovering", { failureRecorded: true }),
    obs: { now: T + 600_000, health: timedOut(true), sentinel: notReq },
    expect: { phase: "recovering", action: "note-reboot", wait: null, report: null },
  },
  {
    name: "recovering, timed out and recorded, node not Ready -> keeps its slot, as a NotReady holder does",
    state: st("recovering", { failureRecorded: true }),
    obs: { now: T + 600_000, health: timedOut(false) },
    expect: { phase: "recovering", action: null, wait: "ms", report: null },
  },
  {
    name: "recovering, a slot lost after the reboot -> ignored, the node comes back",
    state: st("recovering"),
    obs: { health: healthy, sentinel: req, slotLost: "its Lease was deleted" },
    expect: { phase: "recovering", action: "note-reboot", wait: null, report: null },
  },
  // uncordoning
  {
    name: "uncordoning -> uncordon",
    state: st("uncordoning"),
    obs: {},
    expect: { phase: "uncordoning", action: "uncordon", wait: null, report: null },
  },
  {
    name: "uncordoning, done -> release-delay",
    state: st("uncordoning"),
    obs: { result: { action: "uncordon", ok: true } },
    expect: { phase: "release-delay", action: null, wait: null, report: "Uncordoned" },
  },
  {
    name: "uncordoning, failed -> retry",
    state: st("uncordoning"),
    obs: { result: { action: "uncordon", ok: false, error: "500" } },
    expect: { phase: "uncordoning", action: null, wait: "ms", report: "UncordonFailed" },
  },
  // release-delay
  {
    name: "release-delay, no delay -> releasing",
    state: st("release-delay"),
    obs: { slot: {} },
    expect: { phase: "releasing", action: null, wait: null, report: null },
  },
  {
    name: "release-delay, delay not recorded -> record it on the Lease",
    state: st("release-delay"),
    cfg: { releaseDelayMs: 60_000 },
    obs: { slot: {} },
    expect: { phase: "release-delay", action: "set-release-after", wait: null, report: null },
  },
  {
    name: "release-delay, recorded -> wait for it",
    state: st("release-delay"),
    cfg: { releaseDelayMs: 60_000 },
    obs: { result: { action: "set-release-after", ok: true, at: T + 60_000 } },
    expect: { phase: "release-delay", action: null, wait: "ms", report: null },
  },
  {
    name: "release-delay, recording failed -> try again in a moment",
    state: st("release-delay"),
    cfg: { releaseDelayMs: 60_000 },
    obs: { result: { action: "set-release-after", ok: false, at: T + 60_000, error: "503" } },
    expect: { phase: "release-delay", action: null, wait: "ms", report: null },
  },
  {
    name: "release-delay, recorded deadline not reached (after restart) -> wait",
    state: st("release-delay"),
    cfg: { releaseDelayMs: 60_000 },
    obs: { slot: { releaseAfter: T + 30_000 } },
    expect: { phase: "release-delay", action: null, wait: "ms", report: null },
  },
  {
    name: "release-delay, deadline passed -> releasing",
    state: st("release-delay"),
    cfg: { releaseDelayMs: 60_000 },
    obs: { now: T + 30_000, slot: { releaseAfter: T + 30_000 } },
    expect: { phase: "releasing", action: null, wait: null, report: null },
  },
  // releasing / retreating
  {
    name: "releasing -> release",
    state: st("releasing"),
    obs: {},
    expect: { phase: "releasing", action: "release", wait: null, report: null },
  },
  {
    name: "releasing, released -> idle, a period away",
    state: st("releasing"),
    obs: { result: { action: "release", ok: true } },
    expect: { phase: "idle", action: null, wait: "period", report: "SlotReleased" },
  },
  {
    name: "releasing, failed -> retry",
    state: st("releasing"),
    obs: { result: { action: "release", ok: false, error: "503" } },
    expect: { phase: "releasing", action: null, wait: "ms", report: "ReleaseFailed" },
  },
  {
    name: "retreating -> retreat",
    state: st("retreating"),
    obs: {},
    expect: { phase: "retreating", action: "retreat", wait: null, report: null },
  },
  {
    name: "retreating, done -> releasing",
    state: st("retreating"),
    obs: { result: { action: "retreat", ok: true } },
    expect: { phase: "releasing", action: null, wait: null, report: null },
  },
  {
    name: "retreating, failed -> retry",
    state: st("retreating"),
    obs: { result: { action: "retreat", ok: false, error: "500" } },
    expect: { phase: "retreating", action: null, wait: "ms", report: "RetreatFailed" },
  },
  {
    name: "retreating, the slot is already known lost -> keeps retreating",
    state: st("retreating", { failure: "its Lease was deleted" }),
    obs: { slotLost: "its Lease was deleted" },
    expect: { phase: "retreating", action: "retreat", wait: null, report: null },
  },
];
