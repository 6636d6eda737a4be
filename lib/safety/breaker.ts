/**
 * The circuit breaker (issue 16, item 2): `--max-failed-reboots N` failed reboots within `--failure-window`,
 * cluster-wide, and kreboot pauses new reboots itself — the same pause as `kreboot pause`, with a reason
 * "circuit breaker: …" naming the nodes — until `kreboot resume`. A failed reboot is one whose node did not
 * come back Ready, whose boot ID did not change within `--reboot-timeout`, or whose health gate timed out.
 *
 * The failures live as JSON in an annotation of a Lease (`breakerLeaseName`), so they survive restarts and
 * every node sees the same count. Every node appends its own failures: the shell writes with the Lease's
 * resourceVersion and retries on conflict, as the slot Leases are written. `kreboot resume` records a reset
 * time rather than deleting history: failures before it no longer count, and `kreboot status` can still
 * show them. Decoding trusts nothing (the Lease is editable by hand); encoding is bounded.
 */
import { formatGoDuration } from "../config/duration.ts";
import { isDnsSubdomain } from "../config/names.ts";
import { isRecord, oneLine as cut, parseAnnotationJson, timeOf } from "./annotation_json.ts";

export const FAILURES_ANNOTATION = "kreboot.dev/failed-reboots";
/** The pause's holder identity when the breaker opened it (a person's pause names the person). */
export const BREAKER_PAUSED_BY = "circuit-breaker";
const REASON_PREFIX = "circuit breaker: ";

/** The Lease that carries the failure record, beside the slot and pause Leases of the DaemonSet. */
export function breakerLeaseName(dsName: string): string {
  return `${dsName}-breaker`;
}

export const FAILURE_KINDS = ["not-ready", "boot-id-unchanged", "health-timeout"] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];

export interface FailedReboot {
  node: string;
  atMs: number;
  kind: FailureKind;
  /** What happened, one line (e.g. the health gate's verdict). */
  why: string;
}

export interface FailureRecord {
  /** Oldest first. */
  failures: FailedReboot[];
  /** `kreboot resume` closed the breaker at this time: earlier failures do not count. */
  resetAtMs?: number;
}

export interface BreakerSettings {
  /** `--max-failed-reboots`; 0 = the breaker is off. */
  maxFailed: number;
  /** `--failure-window`. */
  windowMs: number;
  nowMs: number;
}

export type BreakerVerdict =
  | { open: false; counted: number }
  /** `reason` is the pause reason, "circuit breaker: …". */
  | { open: true; counted: number; reason: string };

/** How many failures the record keeps (oldest dropped first), and how long one `why` may be. */
export const MAX_KEPT_FAILURES = 50;
const MAX_WHY = 200;
const MAX_DECODE_BYTES = 64 * 1024;
const VERSION = 1;

export const EMPTY_FAILURES: FailureRecord = Object.freeze({ failures: [] });

/** The failures that count now: inside the window and after the last reset. */
export function countedFailures(
  record: FailureRecord,
  s: Omit<BreakerSettings, "maxFailed">,
): FailedReboot[] {
  const since = Math.max(s.nowMs - s.windowMs, record.resetAtMs ?? -Infinity);
  return record.failures.filter((f) => f.atMs > since && f.atMs <= s.nowMs);
}

/** Is the breaker open? At N counted failures it is, and the verdict carries the pause reason. */
export function judgeBreaker(record: FailureRecord, s: BreakerSettings): BreakerVerdict {
  const counted = countedFailures(record, s);
  if (s.maxFailed <= 0 || counted.length < s.maxFailed) return { open: false, counted: counted.length };
  return { open: true, counted: counted.length, reason: breakerReason(counted, s.windowMs) };
}

/**
 * "circuit breaker: 2 failed reboots within 24h0m0s (node-a: …; node-b: …); check these nodes, then run
 * kreboot resume". Every failed node is named; the whys are cut so the reason stays one readable line.
 */
export function breakerReason(failures: readonly FailedReboot[], windowMs: number): string {
  const n = failures.length;
  const per = failures.map((f) => `${f.node}: ${cut(f.why, 120)}`).join("; ");
  return `${REASON_PREFIX}${n} failed reboot${n === 1 ? "" : "s"} within ${
    formatGoDuration(windowMs)
  } (${per}); ` +
    "check these nodes, then run kreboot resume";
}

/** Was this pause opened by the breaker? */
export function isBreakerPause(reason: string | undefined): boolean {
  return reason?.startsWith(REASON_PREFIX) ?? false;
}

/** The record with one more failure; failures outside the window are pruned, at most MAX_KEPT_FAILURES kept. */
export function recordFailure(
  record: FailureRecord,
  f: FailedReboot,
  s: Omit<BreakerSettings, "maxFailed">,
): FailureRecord {
  const kept = record.failures.filter((old) => old.atMs > s.nowMs - s.windowMs);
  const failures = [...kept, { ...f, why: cut(f.why, MAX_WHY) }]
    .sort((a, b) => a.atMs - b.atMs)
    .slice(-MAX_KEPT_FAILURES);
  return withReset({ failures }, record.resetAtMs);
}

/** `kreboot resume`: the breaker closes; the failures so far stop counting. */
export function resetBreaker(record: FailureRecord, nowMs: number): FailureRecord {
  return { failures: record.failures, resetAtMs: nowMs };
}

/** The annotation value. */
export function encodeFailures(record: FailureRecord): string {
  const failures = record.failures.slice(-MAX_KEPT_FAILURES).map((f) => ({
    node: f.node,
    at: new Date(f.atMs).toISOString(),
    kind: f.kind,
    why: cut(f.why, MAX_WHY),
  }));
  const reset = record.resetAtMs === undefined ? {} : { resetAt: new Date(record.resetAtMs).toISOString() };
  return JSON.stringify({ v: VERSION, failures, ...reset });
}

export type DecodedFailures = { record: FailureRecord; problems: string[] };

/** The record in the annotation; absent = none. Never throws; what it cannot read is a problem and skipped. */
export function decodeFailures(raw: string | undefined): DecodedFailures {
  if (raw === undefined || raw === "") return { record: EMPTY_FAILURES, problems: [] };
  const unreadable = (why: string): DecodedFailures => ({
    record: EMPTY_FAILURES,
    problems: [`the ${FAILURES_ANNOTATION} annotation is unreadable (${why}); no failed reboot is counted`],
  });
  const decoded = parseAnnotationJson(raw, VERSION, MAX_DECODE_BYTES);
  if (!decoded.ok) return unreadable(decoded.why);
  const parsed = decoded.fields;
  const failures: FailedReboot[] = [];
  let bad = 0;
  for (const item of Array.isArray(parsed.failures) ? parsed.failures : []) {
    const f = decodeFailure(item);
    if (f) failures.push(f);
    else bad++;
  }
  const problems = bad > 0
    ? [`${bad} unreadable failure${bad === 1 ? "" : "s"} in ${FAILURES_ANNOTATION} ignored`]
    : [];
  failures.sort((a, b) => a.atMs - b.atMs);
  return {
    record: withReset({ failures: failures.slice(-MAX_KEPT_FAILURES) }, timeOf(parsed.resetAt)),
    problems,
  };
}

function decodeFailure(item: unknown): FailedReboot | undefined {
  if (!isRecord(item)) return undefined;
  const { node, at, kind, why } = item;
  const atMs = timeOf(at);
  const k = FAILURE_KINDS.find((x) => x === kind);
  if (typeof node !== "string" || !isDnsSubdomain(node) || atMs === undefined || k === undefined) {
    return undefined;
  }
  return { node, atMs, kind: k, why: typeof why === "string" ? cut(why, MAX_WHY) : "" };
}

function withReset(r: { failures: FailedReboot[] }, resetAtMs: number | undefined): FailureRecord {
  return resetAtMs === undefined ? r : { ...r, resetAtMs };
}
