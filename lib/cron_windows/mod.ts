/**
 * Cron windows in real time zones: cron patterns (croner, cron.ts) and the windows anchored at their fire
 * times for a duration (anchored.ts), with the `key=value` spec syntax they are written in (spec.ts). Shared
 * by `--reboot-window` (the window gate in lib/gates/window/ combines them with kured's daily window) and
 * the `schedule=` of a `--budget` (lib/budget/).
 *
 *   const w = parseWindowSpec("cron=0 22 * * fri,duration=6h,tz=Europe/Berlin");
 *   isOpen(w, Date.parse("2026-03-28T00:00:00Z"));            // true: Saturday 01:00 in Berlin
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
} from "./anchored.ts";
