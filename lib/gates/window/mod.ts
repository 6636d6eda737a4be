/**
 * The window gate: when a reboot may start. kured.ts is kured's daily window (`--reboot-days`,
 * `--start-time`, `--end-time`, `--time-zone`) with kured's exact semantics; policy.ts combines it with the
 * `--reboot-window` cron windows (lib/cron_windows/): kured's window AND any cron window.
 *
 *   const p = windowPolicy(config);
 *   checkWindows(p, Temporal.Now.instant());  // GateResult, reason "window", retryAtMs = when it opens
 */
import type { Config } from "../../config/mod.ts";
import { rebootWindow } from "./kured.ts";
import type { WindowPolicy } from "./policy.ts";

export {
  checkWindow,
  describeWindow,
  inWindow,
  nextWindowStart,
  type RebootWindow,
  rebootWindow,
  type TimeOfDay,
} from "./kured.ts";
export { checkWindows, describePolicy, mayStart, nextStart, type WindowPolicy } from "./policy.ts";

/** The window policy the flags describe; throws `ConfigError` (naming `--time-zone`) as `rebootWindow` does. */
export function windowPolicy(
  config: Pick<Config, "rebootDays" | "startTime" | "endTime" | "timeZone" | "rebootWindows">,
): WindowPolicy {
  return { kured: rebootWindow(config), windows: config.rebootWindows };
}
