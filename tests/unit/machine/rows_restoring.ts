/** Rows for putting the node back and giving the slot back: recovering … releasing, and retreating. */
import { type Row, st, T } from "./support.ts";

export const RESTORING: Row[] = [
  // recovering
  {
    name: "recovering, node NotReady -> wait",
    state: st("recovering"),
    obs: { node: { ready: false } },
    expect: { phase: "recovering", action: null, wait: "ms", report: null },
  },
  {
    name: "recovering, DaemonSet pods not Ready -> wait",
    state: st("recovering"),
    obs: { node: { ready: true }, daemonPodsReady: false },
    expect: { phase: "recovering", action: null, wait: "ms", report: null },
  },
  {
    name: "recovering, pods not Ready past the timeout -> uncordon anyway",
    state: st("recovering"),
    obs: { now: T + 600_000, node: { ready: true }, daemonPodsReady: false },
    expect: { phase: "uncordoning", action: null, wait: null, report: "RecoveryIncomplete" },
  },
  {
    name: "recovering, sentinel still there after the reboot -> uncordoning, reported, no reboot loop",
    state: st("recovering"),
    obs: { node: { ready: true }, daemonPodsReady: true, sentinel: { required: true } },
    expect: { phase: "uncordoning", action: null, wait: null, report: "RecoveryIncomplete" },
  },
  {
    name: "recovering, all Ready -> uncordoning",
    state: st("recovering"),
    obs: { node: { ready: true }, daemonPodsReady: true },
    expect: { phase: "uncordoning", action: null, wait: null, report: null },
  },
  {
    name: "recovering, a slot lost after the reboot -> ignored, the node comes back",
    state: st("recovering"),
    obs: { node: { ready: true }, daemonPodsReady: true, slotLost: "its Lease was deleted" },
    expect: { phase: "uncordoning", action: null, wait: null, report: null },
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
