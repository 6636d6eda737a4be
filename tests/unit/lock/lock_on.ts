/** A RebootLock on the in-memory store with the daemon's defaults (kube-system/kured, one slot, no TTL). */
import { type LockOptions, RebootLock } from "../../../lib/lock/mod.ts";
import { Logger } from "../../../lib/log.ts";
import type { FakeLeaseStore } from "./fake_store.ts";

/** `lines` collects the lock's log lines. */
export function lockOn(
  store: FakeLeaseStore,
  node: string,
  o: Partial<LockOptions> & { lines?: string[] } = {},
): RebootLock {
  const { lines, ...rest } = o;
  return new RebootLock(store, {
    namespace: "kube-system",
    dsName: "kured",
    lockAnnotation: "weave.works/kured-node-lock",
    concurrency: { kind: "count", n: 1 },
    ttlMs: 0,
    node,
    log: new Logger({ format: "json", node, sink: (l) => lines?.push(l) }),
    ...rest,
  });
}
