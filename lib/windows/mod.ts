/**
 * Reboot windows in real time zones: cron patterns (croner) anchored at their start for a duration, the
 * `--reboot-window` spec, and the window gate that combines them with kured's window.
 *
 *   const w = parseWindowSpec("cron=0 22 * * fri,duration=6h,tz=Europe/Berlin");
 *   isOpen(w, Date.parse("2026-03-28T00:00:00Z"));            // true: Saturday 01:00 in Berlin
 *   checkWindows({ kured, windows: [w] }, Temporal.Now.instant());  // GateResult, reason "window"
 */
export { CRON_EXPECTED, type CronSchedule, lastFireAtOrBefore, nextFireAfter, parseCron } from "./cron.ts";
export { formatWindowSpec, MAX_SPEC_LENGTH, parseWindowSpec, splitSpec, windowFrom } from "./spec.ts";
export {
  type AnchoredWindow,
  anyOpen,
  anyOpenAtOrAfter,
  closesAfter,
  isOpen,
  nextOpening,
  openAtOrAfter,
  type OpenInterval,
  openIntervalAt,
} from "./window.ts";
export { checkWindows, describePolicy, mayStart, nextStart, type WindowPolicy } from "./gate.ts";
