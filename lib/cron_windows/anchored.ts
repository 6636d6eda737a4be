/**
 * Anchored windows: a window opens at each fire time of a cron pattern in its zone and stays open for a
 * duration of real (elapsed) time from there. Anchoring at the start is what makes a window that opens
 * Friday 22:00 for 6 h admit Saturday 01:00, and a DST change inside it neither shortens nor cuts it: the
 * end is the start plus the duration, whatever the wall clock does meanwhile.
 *
 * The same shape serves `--reboot-window` (a reboot may start while one is open) and the `schedule=` of a
 * `--budget` (the budget applies while its window is open).
 */
import { type CronSchedule, lastFireAtOrBefore, nextFireAfter } from "./cron.ts";

export interface AnchoredWindow {
  schedule: CronSchedule;
  /** Milliseconds, > 0. */
  durationMs: number;
}

/** An open interval of a window: [startMs, endMs). */
export interface OpenInterval {
  startMs: number;
  endMs: number;
}

/**
 * The interval of `w` that contains `atMs`, or undefined when `w` is closed then. Only the latest start at
 * or before `atMs` can contain it: every interval has the same length, so a later start also ends later.
 */
export function openIntervalAt(w: AnchoredWindow, atMs: number): OpenInterval | undefined {
  const startMs = lastFireAtOrBefore(w.schedule, atMs);
  if (startMs === undefined) return undefined;
  const endMs = startMs + w.durationMs;
  return atMs < endMs ? { startMs, endMs } : undefined;
}

export function isOpen(w: AnchoredWindow, atMs: number): boolean {
  return openIntervalAt(w, atMs) !== undefined;
}

/** The next time `w` opens strictly after `atMs` (its next start), or undefined when it never opens again. */
export function nextOpening(w: AnchoredWindow, atMs: number): number | undefined {
  return nextFireAfter(w.schedule, atMs);
}

/** `atMs` when `w` is open then, else its next opening. */
export function openAtOrAfter(w: AnchoredWindow, atMs: number): number | undefined {
  return isOpen(w, atMs) ? atMs : nextOpening(w, atMs);
}

/**
 * When `w` stops being open, counting from `atMs` while it is open: overlapping intervals (a duration
 * longer than the time between two starts) chain, so this follows them. Undefined when `w` is closed at
 * `atMs`; `Infinity` when the chain never breaks (e.g. every hour for 2 h).
 */
export function closesAfter(w: AnchoredWindow, atMs: number): number | undefined {
  let end = openIntervalAt(w, atMs)?.endMs;
  if (end === undefined) return undefined;
  for (let i = 0; i < 1_000; i++) {
    const next = nextFireAfter(w.schedule, atMs);
    if (next === undefined || next > end) return end;
    atMs = next;
    end = Math.max(end, next + w.durationMs);
  }
  return Infinity;
}

/** Any of `windows` open at `atMs`. */
export function anyOpen(windows: readonly AnchoredWindow[], atMs: number): boolean {
  return windows.some((w) => isOpen(w, atMs));
}

/** The earliest time at or after `atMs` when any of `windows` is open, or undefined if none ever opens again. */
export function anyOpenAtOrAfter(windows: readonly AnchoredWindow[], atMs: number): number | undefined {
  let best: number | undefined;
  for (const w of windows) {
    const t = openAtOrAfter(w, atMs);
    if (t !== undefined && (best === undefined || t < best)) best = t;
  }
  return best;
}
