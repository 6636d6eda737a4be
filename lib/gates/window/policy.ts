/**
 * The window gate with `--reboot-window`: a reboot may start when kured's window (`--reboot-days`,
 * `--start-time`, `--end-time`, `--time-zone`, judged exactly as kured does in kured.ts) is open AND, when
 * any `--reboot-window` (a cron window of lib/cron_windows/) is given, at least one of them is open. kured's
 * flags default to "every day, all day", so with only `--reboot-window` given the cron windows alone decide;
 * giving both narrows the cron windows to kured's days and hours. Without `--reboot-window` the result is
 * exactly kured.ts's, message included.
 */
import { type AnchoredWindow, anyOpen, anyOpenAtOrAfter, formatWindowSpec } from "../../cron_windows/mod.ts";
import { blocked, CLEAR, type GateResult } from "../gate.ts";
import { checkWindow, describeWindow, inWindow, nextWindowStart, type RebootWindow } from "./kured.ts";

export interface WindowPolicy {
  /** kured's window. */
  kured: RebootWindow;
  /** `--reboot-window`s; empty = only kured's window counts. */
  windows: readonly AnchoredWindow[];
}

/** How far ahead `nextStart` looks before it says "not within a year", and how many jumps it makes at most. */
const HORIZON_MS = 400 * 86_400_000;
const MAX_JUMPS = 10_000;

function kuredOpen(w: RebootWindow, atMs: number): boolean {
  return inWindow(w, Temporal.Instant.fromEpochMilliseconds(atMs));
}

/** Whether a reboot may start at `atMs`. */
export function mayStart(p: WindowPolicy, atMs: number): boolean {
  return kuredOpen(p.kured, atMs) && (p.windows.length === 0 || anyOpen(p.windows, atMs));
}

/**
 * The first instant at or after `atMs` at which a reboot may start, or undefined when there is none
 * within about a year. Alternates between the two conditions: from a time where one holds, jump to the
 * next time the other holds; each jump moves forward, and both hold where the jumps stop.
 */
export function nextStart(p: WindowPolicy, atMs: number): number | undefined {
  let t = atMs;
  const limit = atMs + HORIZON_MS;
  for (let jumps = 0; jumps < MAX_JUMPS && t <= limit; jumps++) {
    const kured = nextWindowStart(p.kured, Temporal.Instant.fromEpochMilliseconds(t))?.epochMilliseconds;
    if (kured === undefined) return undefined;
    // kured's window is judged to the nanosecond; a start inside this millisecond counts from its end.
    t = Math.max(t, kured);
    if (p.windows.length === 0 || anyOpen(p.windows, t)) {
      if (kuredOpen(p.kured, t)) return t;
      t += 1;
      continue;
    }
    const cron = anyOpenAtOrAfter(p.windows, t);
    if (cron === undefined) return undefined;
    t = cron;
    if (kuredOpen(p.kured, t)) return t;
  }
  return undefined;
}

/** E.g. "every day 00:00-23:59:59 UTC and any of [cron=0 22 * * fri,duration=6h0m0s,tz=Europe/Berlin]". */
export function describePolicy(p: WindowPolicy): string {
  const kured = describeWindow(p.kured);
  if (p.windows.length === 0) return kured;
  return `${kured} and any of [${p.windows.map(formatWindowSpec).join("; ")}]`;
}

/**
 * The window gate: clear when a reboot may start now, otherwise blocked (reason `window`) with when it
 * may start next as `retryAtMs`. Same shape and reason as kured.ts's `checkWindow`.
 */
export function checkWindows(p: WindowPolicy, now: Temporal.Instant): GateResult {
  if (p.windows.length === 0) return checkWindow(p.kured, now);
  const atMs = now.epochMilliseconds;
  if (mayStart(p, atMs)) return CLEAR;
  const next = nextStart(p, atMs);
  const message = `outside the reboot windows (${describePolicy(p)}); ${
    next === undefined ? "they do not open together within a year" : `next opens ${formatUtc(next)}`
  }`;
  return next === undefined
    ? blocked("window", message)
    : { clear: false, reason: "window", message, retryAtMs: next };
}

function formatUtc(ms: number): string {
  return Temporal.Instant.fromEpochMilliseconds(ms).toString({ smallestUnit: "minute" });
}
