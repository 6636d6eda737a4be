/** The reboot lock as the flags describe it: the daemon, `pause` and `resume` build it the same way. */
import type { Config } from "../config/mod.ts";
import type { Kube } from "../kube/mod.ts";
import { type LockOptions, RebootLock } from "./mod.ts";
import type { Logger } from "../log.ts";

export function lockFor(
  kube: Kube,
  config: Config,
  log: Logger,
  onGroupSlots?: LockOptions["onGroupSlots"],
): RebootLock {
  return new RebootLock(kube, {
    namespace: config.dsNamespace,
    dsName: config.dsName,
    lockAnnotation: config.lockAnnotation,
    concurrency: config.concurrency,
    ttlMs: config.lockTtl,
    node: config.nodeId || "cli",
    log,
    groupLabel: config.groupLabel,
    budgets: config.budgets,
    maxConcurrencyTotal: config.maxConcurrencyTotal,
    ...(onGroupSlots ? { onGroupSlots } : {}),
  });
}
