/** Rows for start-up and the phases before a slot: startup, idle, required, waiting. */
import { blocked, clear, notReq, req, type Row, st, T } from "./support.ts";

export const BEFORE_SLOT: Row[] = [
  // startup: a (re)started daemon picks up from the slot's Lease
  {
    name: "startup, no slot -> idle",
    state: st("startup"),
    obs: { slot: null },
    expect: { phase: "idle", action: null, wait: null, report: null },
  },
  {
    name: "startup, no slot but cordoned by kreboot -> retreating (never left cordoned without a slot)",
    state: st("startup"),
    obs: { slot: null, node: { ready: true, bootId: "a", cordonedByUs: true } },
    expect: { phase: "retreating", action: null, wait: null, report: "SlotLost" },
  },
  {
    name: "startup, slot with new boot ID -> recovering",
    state: st("startup"),
    obs: { slot: { phase: "rebooting", bootId: "a" }, node: { bootId: "b", ready: true } },
    expect: { phase: "recovering", action: null, wait: null, report: "RebootConfirmed" },
  },
  {
    name: "startup, slot in release-delay with new boot ID -> release-delay (keeps the delay)",
    state: st("startup"),
    obs: {
      slot: { phase: "release-delay", bootId: "a", releaseAfter: T + 5 },
      node: { bootId: "b", ready: true },
    },
    expect: { phase: "release-delay", action: null, wait: null, report: "Resumed" },
  },
  {
    name: "startup, slot in uncordoning with new boot ID -> uncordoning",
    state: st("startup"),
    obs: { slot: { phase: "uncordoning", bootId: "a" }, node: { bootId: "b", ready: true } },
    expect: { phase: "uncordoning", action: null, wait: null, report: "Resumed" },
  },
  {
    name: "startup, slot in releasing with new boot ID -> releasing",
    state: st("startup"),
    obs: { slot: { phase: "releasing", bootId: "a" }, node: { bootId: "b", ready: true } },
    expect: { phase: "releasing", action: null, wait: null, report: "Resumed" },
  },
  {
    name: "startup, slot, same boot ID, was draining -> draining (resume, never release)",
    state: st("startup"),
    obs: { slot: { phase: "draining", bootId: "a" }, node: { bootId: "a", ready: true } },
    expect: { phase: "draining", action: null, wait: null, report: "Resumed" },
  },
  {
    name: "startup, slot, same boot ID, was rebooting -> draining then reboot again",
    state: st("startup"),
    obs: { slot: { phase: "rebooting", bootId: "a" }, node: { bootId: "a", ready: true } },
    expect: { phase: "draining", action: null, wait: null, report: "Resumed" },
  },
  {
    name: "startup, slot, same boot ID, was cordoning -> cordoning (re-check gates)",
    state: st("startup"),
    obs: { slot: { phase: "cordoning", bootId: "a" }, node: { bootId: "a", ready: true } },
    expect: { phase: "cordoning", action: null, wait: null, report: "Resumed" },
  },
  {
    name: "startup, slot, same boot ID, was retreating -> retreating",
    state: st("startup"),
    obs: { slot: { phase: "retreating", bootId: "a" }, node: { bootId: "a", ready: true } },
    expect: { phase: "retreating", action: null, wait: null, report: "Resumed" },
  },
  {
    name: "startup, slot without a boot ID record, was rebooting -> recovering (no reboot loop)",
    state: st("startup"),
    obs: { slot: { phase: "rebooting" }, node: { bootId: "b", ready: true } },
    expect: { phase: "recovering", action: null, wait: null, report: "RebootAssumed" },
  },
  {
    name: "startup, node without a boot ID, was rebooting -> recovering (no reboot loop)",
    state: st("startup"),
    obs: { slot: { phase: "rebooting", bootId: "a" }, node: { ready: true } },
    expect: { phase: "recovering", action: null, wait: null, report: "RebootAssumed" },
  },
  {
    name: "startup, node without a boot ID, was draining -> draining (resume)",
    state: st("startup"),
    obs: { slot: { phase: "draining" }, node: { ready: true } },
    expect: { phase: "draining", action: null, wait: null, report: "Resumed" },
  },
  {
    name: "startup, slot with no readable phase -> retreating (garbage is not trusted)",
    state: st("startup"),
    obs: { slot: { bootId: "a" }, node: { bootId: "a", ready: true } },
    expect: { phase: "retreating", action: null, wait: null, report: "SlotUnreadable" },
  },
  {
    name: "startup, slot with an unknown phase -> retreating",
    state: st("startup"),
    obs: { slot: { phase: "idle", bootId: "a" }, node: { bootId: "a", ready: true } },
    expect: { phase: "retreating", action: null, wait: null, report: "SlotUnreadable" },
  },
  // idle
  {
    name: "idle, nothing observed -> wait period",
    state: st("idle"),
    obs: {},
    expect: { phase: "idle", action: null, wait: "period", report: null },
  },
  {
    name: "idle, not required",
    state: st("idle"),
    obs: { sentinel: notReq },
    expect: { phase: "idle", action: null, wait: "period", report: null },
  },
  {
    name: "idle, sentinel error -> idle, reported, never a reboot",
    state: st("idle"),
    obs: { sentinel: { required: true, error: "sentinel command timed out" } },
    expect: { phase: "idle", action: null, wait: "period", report: "SentinelError" },
  },
  {
    name: "idle, required -> required",
    state: st("idle"),
    obs: { sentinel: req },
    expect: { phase: "required", action: null, wait: null, report: "RebootRequired" },
  },
  // required / waiting
  {
    name: "required, nothing but the sentinel observed -> wait a period",
    state: st("required"),
    obs: { sentinel: req },
    expect: { phase: "required", action: null, wait: "period", report: null },
  },
  {
    name: "required, gates clear -> acquire",
    state: st("required"),
    obs: { sentinel: req, gate: clear },
    expect: { phase: "required", action: "acquire", wait: null, report: null },
  },
  {
    name: "required, window closed -> blocked, period",
    state: st("required"),
    obs: { sentinel: req, gate: blocked("window") },
    expect: { phase: "required", action: null, wait: "period", report: "RebootBlocked" },
  },
  {
    name: "required, window closed with a known opening -> wait until it opens at the latest",
    state: st("required"),
    obs: { sentinel: req, gate: { ...blocked("window"), retryAtMs: T + 60_000 } },
    expect: { phase: "required", action: null, wait: "period", report: "RebootBlocked" },
  },
  {
    name: "required, alert -> blocked",
    state: st("required"),
    obs: { sentinel: req, gate: blocked("alert") },
    expect: { phase: "required", action: null, wait: "period", report: "RebootBlocked" },
  },
  {
    name: "required, pod -> blocked",
    state: st("required"),
    obs: { sentinel: req, gate: blocked("pod") },
    expect: { phase: "required", action: null, wait: "period", report: "RebootBlocked" },
  },
  {
    name: "required, pdb preflight -> blocked",
    state: st("required"),
    obs: { sentinel: req, gate: blocked("pdb") },
    expect: { phase: "required", action: null, wait: "period", report: "RebootBlocked" },
  },
  {
    name: "required, sentinel gone -> idle",
    state: st("required"),
    obs: { sentinel: notReq },
    expect: { phase: "idle", action: null, wait: "period", report: "RebootNotRequired" },
  },
  {
    name: "required, sentinel error -> idle",
    state: st("required"),
    obs: { sentinel: { required: false, error: "boom" } },
    expect: { phase: "idle", action: null, wait: "period", report: "SentinelError" },
  },
  {
    name: "required, acquired -> cordoning",
    state: st("required"),
    obs: { result: { action: "acquire", acquired: true } },
    expect: { phase: "cordoning", action: null, wait: null, report: "SlotAcquired" },
  },
  {
    name: "required, all slots held -> waiting on the lock",
    state: st("required"),
    obs: { result: { action: "acquire", acquired: false, reason: "full", message: "held by n1" } },
    expect: { phase: "waiting", action: null, wait: "lock", report: "RebootBlocked" },
  },
  {
    name: "required, paused -> waiting on the lock",
    state: st("required"),
    obs: { result: { action: "acquire", acquired: false, reason: "paused", message: "paused" } },
    expect: { phase: "waiting", action: null, wait: "lock", report: "RebootBlocked" },
  },
  {
    name: "waiting, woken, gates clear -> acquire",
    state: st("waiting"),
    obs: { sentinel: req, gate: clear },
    expect: { phase: "waiting", action: "acquire", wait: null, report: null },
  },
  {
    name: "waiting, acquired -> cordoning",
    state: st("waiting"),
    obs: { result: { action: "acquire", acquired: true } },
    expect: { phase: "cordoning", action: null, wait: null, report: "SlotAcquired" },
  },
  {
    name: "waiting, still full -> waiting on the lock",
    state: st("waiting"),
    obs: { result: { action: "acquire", acquired: false, reason: "full", message: "held by n2" } },
    expect: { phase: "waiting", action: null, wait: "lock", report: "RebootBlocked" },
  },
  {
    name: "waiting, woken, gate blocked -> required",
    state: st("waiting"),
    obs: { sentinel: req, gate: blocked("alert") },
    expect: { phase: "required", action: null, wait: "period", report: "RebootBlocked" },
  },
  {
    name: "waiting, sentinel gone -> idle",
    state: st("waiting"),
    obs: { sentinel: notReq },
    expect: { phase: "idle", action: null, wait: "period", report: "RebootNotRequired" },
  },
  {
    name: "waiting, a slot lost is not this phase's business -> ignored",
    state: st("waiting"),
    obs: { sentinel: req, gate: clear, slotLost: "the Lease was deleted" },
    expect: { phase: "waiting", action: "acquire", wait: null, report: null },
  },
];
