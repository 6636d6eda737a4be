/**
 * Start-up checks that need more than one flag: they turn a configuration that could only misbehave
 * later into a one-line `ConfigError` now (exit 2), naming the flag to change.
 */
import { ConfigError } from "../config/errors.ts";
import { GROUP_NAME_OVERHEAD } from "./group.ts";
import { type Budget, formatBudgetSpec } from "./spec.ts";

export interface GroupFlags {
  dsName: string;
  groupLabel: string;
  budgets: readonly Budget[];
}

/** Throws `ConfigError` when the group flags do not fit together. */
export function checkGroupFlags(f: GroupFlags): void {
  if (f.groupLabel === "") {
    const grouped = f.budgets.find((b) => b.group !== undefined);
    if (grouped) {
      throw new ConfigError(
        "budget",
        `--budget=${
          formatBudgetSpec(grouped)
        } names a group, but --group-label is not set: set --group-label=KEY (e.g. topology.kubernetes.io/zone) or drop group=`,
      );
    }
    return;
  }
  const max = 253 - GROUP_NAME_OVERHEAD;
  if (f.dsName.length > max) {
    throw new ConfigError(
      "group-label",
      `--group-label needs a --ds-name of at most ${max} characters (slot Lease names grow by up to ${GROUP_NAME_OVERHEAD}); --ds-name has ${f.dsName.length}`,
    );
  }
}
