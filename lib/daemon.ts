/**
 * Builds the daemon from its configuration: every port the loop needs, wired to the real modules. Anything
 * that can be wrong with the configuration is found here before the first request to the cluster or the host.
 */
import { type Config, ConfigError, requireNodeId, WEEKDAYS } from "./config/mod.ts";
import { checkBlockingPods } from "./gates/pods.ts";
import { checkPrometheus } from "./gates/prometheus.ts";
import { assertWindow, checkSchedule, describeWindow, type RebootWindow } from "./gates/schedule.ts";
import { checkSentinel, type SentinelOptions } from "./gates/sentinel.ts";
import type { GateResult } from "./gates/gate.ts";
import { sentinelChanged } from "./gates/sentinel_watch.ts";
import { describeApiError, loadKubeConfig, makeKube } from "./kube/mod.ts";
import type { Kube } from "./kube/mod.ts";
import { RebootLock } from "./lock.ts";
import { Logger } from "./log.ts";
import { type NodeState, type Ports, RebootLoop } from "./loop.ts";
import type { SentinelObs } from "./machine.ts";
import { makeRebooter, type Rebooter } from "./reboot.ts";
import { sleep } from "./sleep.ts";
import { NodeOps } from "./node_ops.ts";
import { Metrics, startMetricsServer } from "./report/metrics.ts";
import { Reporter } from "./report/reporter.ts";

export function rebootWindow(config: Config): RebootWindow {
  const w: RebootWindow = {
    days: new Set(config.rebootDays.map((d) => WEEKDAYS.indexOf(d))),
    start: config.startTime,
    end: config.endTime,
    timeZone: config.timeZone,
  };
  try {
    assertWindow(w);
  } catch (e) {
    throw new ConfigError("time-zone", e instanceof Error ? e.message : String(e));
  }
  return w;
}

/** The reboot lock as the flags describe it (the daemon, `pause` and `resume` share it). */
export function lockFor(kube: Kube, config: Config, log: Logger): RebootLock {
  return new RebootLock(kube, {
    namespace: config.dsNamespace,
    dsName: config.dsName,
    lockAnnotation: config.lockAnnotation,
    concurrency: config.concurrency,
    ttlMs: config.lockTtl,
    node: config.nodeId || "cli",
    log,
  });
}

export function rebooterFor(config: Config): Rebooter {
  try {
    return config.rebootMethod === "signal"
      ? makeRebooter({ method: "signal", signal: config.rebootSignal, nsenter: config.nsenter })
      : makeRebooter({ method: "command", command: config.rebootCommand, nsenter: config.nsenter });
  } catch (e) {
    const flag = config.rebootMethod === "signal" ? "reboot-signal" : "reboot-command";
    throw new ConfigError(flag, e instanceof Error ? e.message : String(e));
  }
}

export function sentinelOptions(config: Config): SentinelOptions {
  return config.rebootSentinelCommand.length > 0
    ? {
      command: config.rebootSentinelCommand,
      nsenter: config.nsenter,
      timeoutMs: config.sentinelCommandTimeout,
    }
    : { file: config.rebootSentinel };
}

/** Reads this node as the loop needs it. */
export async function readNodeState(kube: Kube, name: string): Promise<NodeState> {
  const node = await kube.core.readNode({ name });
  const ready = node.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
  const bootId = node.status?.nodeInfo?.bootID;
  return { ready, unschedulable: node.spec?.unschedulable === true, ...(bootId ? { bootId } : {}) };
}

/** After a reboot: are the DaemonSet pods on this node (CNI, storage, monitoring agents) Ready again? */
export async function daemonPodsReady(kube: Kube, node: string): Promise<boolean> {
  const pods = await kube.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` });
  return pods.items
    .filter((p) => p.metadata?.ownerReferences?.some((o) => o.kind === "DaemonSet" && o.controller))
    .filter((p) => !p.metadata?.deletionTimestamp)
    .every((p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
}

export async function runDaemon(config: Config, signal: AbortSignal): Promise<number> {
  // Configuration problems first: nothing has touched the cluster or the host yet.
  requireNodeId(config);
  const window = rebootWindow(config);
  const rebooter = rebooterFor(config);
  const sentinel = sentinelOptions(config);
  const alertFilter = config.alertFilterRegexp === undefined
    ? undefined
    : new RegExp(config.alertFilterRegexp);
  const node = config.nodeId;
  const log = new Logger({ format: config.logFormat, node });

  const metrics = new Metrics(node);
  let alive = true;
  const server = await startMetricsServer({
    host: config.metricsHost,
    port: config.metricsPort,
    metrics,
    healthy: () => alive,
    signal,
  }).catch((e: unknown) => {
    // Already phrased as "--metrics-port N: address already in use": exit 2 with it, as for a bad flag.
    throw new ConfigError("metrics-port", e instanceof Error ? e.message : String(e));
  });

  let kube: Kube;
  try {
    kube = makeKube(loadKubeConfig(config.kubeconfig || undefined), config.dryRun);
  } catch (e) {
    throw new ConfigError(
      "kubeconfig",
      `cannot load the kubeconfig (--kubeconfig): ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  log.info("kreboot starting", {
    dryRun: config.dryRun,
    period: config.period,
    concurrency: config.concurrency,
    window: describeWindow(window),
    reboot: rebooter.describe(),
  });

  const lock = lockFor(kube, config, log);
  const reporter = new Reporter({ config, kube, log, metrics });
  const ops = new NodeOps(kube, config, log, metrics);

  const gates = async (): Promise<GateResult> => {
    const steps: (() => Promise<GateResult>)[] = [
      () => Promise.resolve(checkSchedule(window, Temporal.Now.instant())),
    ];
    if (config.prometheusUrl) {
      steps.push(() =>
        checkPrometheus({
          url: config.prometheusUrl,
          alertFilterRegexp: alertFilter,
          alertFilterMatchOnly: config.alertFilterMatchOnly,
          alertFiringOnly: config.alertFiringOnly,
          timeoutMs: config.prometheusTimeout,
          signal,
        })
      );
    }
    if (config.blockingPodSelector.length > 0) {
      steps.push(() => checkBlockingPods(kube, node, config.blockingPodSelector));
    }
    steps.push(() => ops.preflight());
    for (const step of steps) {
      const r = await step();
      if (!r.clear) return r;
    }
    return { clear: true };
  };

  const ports: Ports = {
    async sentinel(): Promise<SentinelObs> {
      const r = await checkSentinel(sentinel);
      if ("warning" in r) log.warn(r.warning);
      const obs: SentinelObs = "error" in r ? { required: false, error: r.error } : { required: r.required };
      reporter.sentinel(obs);
      return obs;
    },
    gates,
    node: () => readNodeState(kube, node),
    daemonPodsReady: () => daemonPodsReady(kube, node),
    lock,
    cordon: () => ops.cordon(signal),
    drain: (s) => ops.drain(s),
    reboot: async () => {
      // The drain and reboot messages go out before the host goes down (a hung webhook costs --notify-timeout).
      await reporter.flushNotifications();
      await rebooter.reboot(signal);
    },
    describeReboot: () => rebooter.describe(),
    uncordon: () => ops.uncordon(),
    retreat: () => ops.retreat(),
    report: (r, phase) => reporter.report(r, phase),
    phaseChanged(phase) {
      reporter.phaseChanged(phase);
      // kured's --prefer-no-schedule-taint: on while this node waits for a slot, off when nothing is pending.
      if (phase === "waiting") void ops.pending(true);
      else if (phase === "idle") void ops.pending(false);
    },
    ...("file" in sentinel ? { sentinelChanged: (s: AbortSignal) => sentinelChanged(sentinel.file, s) } : {}),
  };

  const loop = new RebootLoop(ports, {
    machine: {
      forceReboot: config.forceReboot,
      rebootDelayMs: config.rebootDelay,
      releaseDelayMs: config.lockReleaseDelay,
      rebootTimeoutMs: config.rebootTimeout,
      recoveryTimeoutMs: config.recoveryTimeout,
      dryRun: config.dryRun,
    },
    periodMs: config.period,
    lockTtlMs: config.lockTtl,
    once: config.once,
    log,
  });
  try {
    return await runWithRetry(loop, signal, log);
  } finally {
    alive = false;
    await reporter.flush();
    await server.shutdown();
    log.info("kreboot stopped");
  }
}

/**
 * The loop only throws when the API server cannot be reached at all (e.g. at start-up): wait with backoff
 * and start it again, resuming from what the Lease says, instead of exiting into a crash loop.
 */
async function runWithRetry(loop: RebootLoop, signal: AbortSignal, log: Logger): Promise<number> {
  let backoff = 1_000;
  while (true) {
    try {
      return await loop.run(signal);
    } catch (e) {
      if (signal.aborted) return 0;
      log.error("cannot reach the API server; retrying", { error: describeApiError(e), inMs: backoff });
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, 60_000);
    }
  }
}
