/**
 * Which alerts block a reboot: kured's `--alert-filter-regexp`, `--alert-filter-match-only` and
 * `--alert-firing-only`, decided here once for every alert source (the Prometheus `ALERTS` gate and the
 * Alertmanager gate), so both read the three flags the same way.
 */

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
