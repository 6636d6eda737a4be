/**
 * Watches a rollout from the outside (admin watches on the slot Leases and the Nodes) and reads its inner
 * timeline from the daemons' JSON logs. Shared by the makespan and cycle-time measurements so both end at the
 * same event: the last slot Lease written with no holder, after every node was rebooted and uncordoned.
 */
import { decodeSlot, LOCK_LABEL } from "../lib/lock/slots.ts";
import type { Daemon, TestCluster } from "../tests/harness/mod.ts";
import type { Install } from "../tests/e2e/support.ts";
import { auditRequests, serviceAccountUser } from "./common.ts";

export interface RolloutMonitor {
  /** performance.now() of the last slot release seen and of the last uncordon seen. */
  readonly lastFreeAt: number;
  readonly lastUncordonAt: number;
  /** Holders of the slots right now ("" = free). */
  readonly holders: ReadonlyMap<string, string>;
  readonly unschedulable: ReadonlySet<string>;
  /** True when every slot is free and none of `nodes` is cordoned. */
  settled(nodes: readonly string[]): boolean;
  stop(): void;
}

export async function monitorRollout(cluster: TestCluster, namespace: string, dsName: string) {
  const holders = new Map<string, string>();
  const unschedulable = new Set<string>();
  const state = { lastFreeAt: 0, lastUncordonAt: 0 };
  const nodes = await cluster.kube.watch.watch("/api/v1/nodes", {}, (type, obj) => {
    const name = String(obj?.metadata?.name);
    if (type !== "DELETED" && obj?.spec?.unschedulable) {
      unschedulable.add(name);
    } else if (unschedulable.delete(name)) {
      state.lastUncordonAt = performance.now();
    }
  }, () => {});
  const leases = await cluster.kube.watch.watch(
    `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
    { labelSelector: `${LOCK_LABEL}=${dsName}` },
    (type, obj) => {
      const rec = decodeSlot(obj);
      if (type === "DELETED") {
        holders.delete(rec.name);
        return;
      }
      if (rec.holder === "" && holders.get(rec.name)) state.lastFreeAt = performance.now();
      holders.set(rec.name, rec.holder);
    },
    () => {},
  );
  const monitor: RolloutMonitor = {
    get lastFreeAt() {
      return state.lastFreeAt;
    },
    get lastUncordonAt() {
      return state.lastUncordonAt;
    },
    holders,
    unschedulable,
    settled(names) {
      return [...holders.values()].every((h) => h === "") && names.every((n) => !unschedulable.has(n));
    },
    stop() {
      nodes.abort();
      leases.abort();
    },
  };
  return monitor;
}

/** A daemon's JSON log lines with their `time` parsed (ms since the epoch). */
export function timeline(d: Daemon): { at: number; boot: number; e: Record<string, unknown> }[] {
  const out: { at: number; boot: number; e: Record<string, unknown> }[] = [];
  for (const l of d.lines) {
    if (!l.text.startsWith("{")) continue;
    try {
      const e = JSON.parse(l.text) as Record<string, unknown>;
      const at = Date.parse(String(e.time));
      if (Number.isFinite(at)) out.push({ at, boot: l.boot, e });
    } catch {
      // not a log record
    }
  }
  return out;
}

/** The steps of one node's cycle, in ms since the epoch (undefined when a step did not appear). */
export interface CycleSteps {
  node: string;
  acquired?: number;
  drained?: number;
  rebootCommand?: number;
  restarted?: number;
  released?: number;
}

export function cycleSteps(d: Daemon): CycleSteps {
  const steps: CycleSteps = { node: d.node };
  for (const { at, boot, e } of timeline(d)) {
    if (e.reason === "SlotAcquired" && steps.acquired === undefined) steps.acquired = at;
    if (e.msg === "drained the node" && steps.drained === undefined) steps.drained = at;
    if (typeof e.msg === "string" && e.msg.startsWith("running: ") && steps.rebootCommand === undefined) {
      steps.rebootCommand = at;
    }
    if (e.msg === "kreboot starting" && boot === 1 && steps.restarted === undefined) steps.restarted = at;
    if (e.reason === "SlotReleased" && steps.released === undefined) steps.released = at;
  }
  return steps;
}

/** Each node's slot time, acquisition → release (ms), of the nodes that did both. */
export function slotTimes(steps: readonly CycleSteps[]): number[] {
  return steps.map((s) => (s.released ?? NaN) - (s.acquired ?? NaN)).filter(Number.isFinite);
}

/** The handovers of one slot: from each release to the next acquisition, in time order (ms). */
export function handovers(steps: readonly CycleSteps[]): number[] {
  const times = (pick: (s: CycleSteps) => number | undefined) =>
    steps.map(pick).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  const acquired = times((s) => s.acquired);
  const released = times((s) => s.released);
  return acquired.slice(1).map((a, i) => a - (released[i] ?? a));
}

/** Each slot time in seconds after `t0Epoch`, `acquisition→release`, in the order of acquisition. */
export function slotSpans(steps: readonly CycleSteps[], t0Epoch: number): string {
  const rel = (t: number | undefined) => t === undefined ? "?" : ((t - t0Epoch) / 1000).toFixed(1);
  return [...steps].sort((a, b) => (a.acquired ?? 0) - (b.acquired ?? 0))
    .map((s) => `${rel(s.acquired)}→${rel(s.released)}`).join(", ");
}

/** The requests of an install's daemons (its ServiceAccount) from `fromEpoch` on (1 s early), by the audit log. */
export async function daemonRequests(cluster: TestCluster, install: Install, fromEpoch: number) {
  const user = serviceAccountUser(install.namespace, install.dsName);
  return (await auditRequests(cluster.cp.auditLogPath!, user)).filter((r) => r.at >= fromEpoch - 1_000);
}
