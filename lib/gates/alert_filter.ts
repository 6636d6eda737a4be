/**
 * Which alerts block a reboot: kured's `--alert-filter-regexp`, `--alert-filter-match-only` and
 * `--alert-firing-only`, decided here once for every alert source (the Prometheus `ALERTS` gate and the
 * Alertmanager gate), so both read the three flags the same way; and the gate result both give.
 */
import { redact } from "../log.ts";
import { blocked, CLEAR, type GateResult, listNames } from "./gate.ts";

/** The names of the alerts that count (sorted, unique), or why the source could not be asked. */
export type AlertsResult = { ok: true; alerts: string[] } | { ok: false; error: string };

export interface AlertFilterOptions {
  /** kured's `--alert-filter-regexp`: by default matching alerts are ignored; undefined = all alerts count. */
  alertFilterRegexp?: RegExp | undefined;
  /** kured's `--alert-filter-match-only`: only alerts matching the regexp count. */
  alertFilterMatchOnly: boolean;
  /** kured's `--alert-firing-only`: pending alerts are ignored. */
  alertFiringOnly: boolean;
}

/** kured's `matchesRegex`: does an alert with this name count under the filter? */
export function alertCounts(name: string, filter: RegExp | undefined, matchOnly: boolean): boolean {
  // String.search ignores the `g`/`y` flags' lastIndex, so a shared RegExp stays stateless.
  return filter === undefined || (name.search(filter) !== -1) === matchOnly;
}

/** Does this alert block a reboot under the three flags? */
export function alertBlocks(alert: { name: string; firing: boolean }, opts: AlertFilterOptions): boolean {
  if (opts.alertFiringOnly && !alert.firing) return false;
  return alertCounts(alert.name, opts.alertFilterRegexp, opts.alertFilterMatchOnly);
}

/**
 * The alert gate's result for what `source` (at `url`) answered: blocked while any alert counts, and blocked
 * when it could not be asked (fail safe). `kind` qualifies the alerts, e.g. "(not silenced or inhibited)".
 */
export function alertGateResult(source: string, url: string, r: AlertsResult, kind = ""): GateResult {
  if (!r.ok) {
    return blocked(
      "alert",
      `cannot query ${source} at ${redact(url)}, so reboots are blocked to be safe: ${r.error}`,
    );
  }
  const n = r.alerts.length;
  if (n === 0) return CLEAR;
  return blocked("alert", `${n} active ${source} alert${n === 1 ? "" : "s"}${kind}: ${listNames(r.alerts)}`);
}
