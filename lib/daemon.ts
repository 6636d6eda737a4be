/**
 * Builds the daemon from its configuration: every port the loop needs, wired to the real modules. Anything
 * that can be wrong with the configuration is found here before the first request to the cluster or the host.
 */
import { type Config, ConfigError, requireNodeId } from "./config/mod.ts";
import { checkHold } from "./gates/hold.ts";
import { checkBlockingPods } from "./gates/pods.ts";
import { checkAlertmanager } from "./gates/alertmanager.ts";
import { checkPrometheus } from "./gates/prometheus.ts";
import { checkPrometheusQueries } from "./gates/prometheus_query.ts";
import { checkWindows, describePolicy, windowPolicy } from "./gates/window/mod.ts";
import { checkSentinel, sentinelOptions } from "./sentinel/mod.ts";
import type { GateResult } from "./gates/gate.ts";
import { sentinelChanged } from "./sentinel/watch.ts";
import { describeApiError, loadKubeConfig, makeKube } from "./kube/mod.ts";
import type { Kube } from "./kube/mod.ts";
import { lockFor } from "./lock/from_config.ts";
import { SlotKeeper } from "./lock/mod.ts";
import { Logger } from "./log.ts";
import { type Ports, RebootLoop } from "./loop.ts";
import type { SentinelObs } from "./machine/mod.ts";
import { rebooterFor } from "./reboot.ts";
import { sleep } from "./sleep.ts";
import { nodeState, OwnNode } from "./own_node.ts";
import { clearRequestAfterReboot, describeRequest, holdOf, NodeControlWatch } from "./node_control/mod.ts";
import { KubeLeaseStore } from "./lock/kube_store.ts";
import { CircuitBreaker, HealthCheck, isBreakerPause, RebootLoopGuard, recordEvicted } from "./safety/mod.ts";
import { Metrics, startMetricsServer } from "./report/metrics.ts";
import { Reporter } from "./report/reporter.ts";

export async function runDaemon(config: Config, signal: AbortSignal): Promise<number> {
  // Configuration problems first: nothing has touched the cluster or the host yet.
  requireNodeId(config);
  const window = windowPolicy(config);
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
    window: describePolicy(window),
    reboot: rebooter.describe(),
  });

  const lock = lockFor(kube, config, log, (g) => metrics.setGroupSlots(g.group, g.allowed, g.inUse));
  const keeper = new SlotKeeper(lock, {
    ttlMs: config.lockTtl,
    dryRun: config.dryRun,
    log,
  });
  // The operators' hold and reboot request on this node, through one watch of it (lib/node_control/watch.ts);
  // the loop and the health gate read their Node from the same watch, and the reporter says when it writes to
  // the Node.
  const control = new NodeControlWatch(kube, node, log);
  control.onChange = (n) => metrics.setHeld(holdOf(n));
  control.start();
  const reporter = new Reporter({ config, kube, log, metrics, nodeWrites: (w) => control.expect(w) });
  const ownNode = new OwnNode(kube, config, log, {
    onEviction: (result) => metrics.countEviction(result),
    onDrained: (seconds) => metrics.observeDrain(seconds),
    onBlocked: (blockers) => reporter.drainBlocked(blockers),
    onDeletedInstead: (pod, why) => reporter.evictionBypassed(pod, why),
    // What the drain evicts goes on the slot Lease first: the daemon started after the reboot waits for it.
    ...(config.waitForWorkloads ? { beforeEvicting: (pods) => recordEvicted(kube, lock, pods) } : {}),
  }, () => control.current());

  // Rollout safety (lib/safety/): the post-reboot health gate, the circuit breaker, the reboot-loop guard.
  const health = new HealthCheck(kube, {
    node,
    readyForMs: config.postRebootReadyFor,
    recoveryTimeoutMs: config.recoveryTimeout,
    waitForWorkloads: config.waitForWorkloads,
    evicted: () => lock.held?.evicted,
    readNode: () => control.current(),
    log,
  });
  const where = { namespace: config.dsNamespace, dsName: config.dsName };
  const breaker = new CircuitBreaker(new KubeLeaseStore(kube, where), {
    ...where,
    node,
    maxFailed: config.maxFailedReboots,
    windowMs: config.failureWindow,
    log,
  });
  const guard = new RebootLoopGuard(kube, {
    node,
    readNode: () => control.current(),
    minIntervalMs: config.minRebootInterval,
    maxConsecutive: config.maxConsecutiveReboots,
    log,
    onCount: (n) => metrics.setConsecutiveReboots(n),
    nodeWrites: (w) => control.expect(w),
  });
  // kreboot_circuit_open: the node that opened the breaker says so until it is closed again (it looks every
  // 30 s meanwhile); a node waiting for a slot says what it saw when it last tried.
  let watchingCircuit = false;
  const circuitOpened = () => {
    metrics.setCircuitOpen(true);
    if (watchingCircuit) return;
    watchingCircuit = true;
    void breaker.closed(signal).then(() => {
      watchingCircuit = false;
      if (!signal.aborted) metrics.setCircuitOpen(false);
    });
  };

  // What the Prometheus and Alertmanager gates share: the alert filter flags and the deadline of one query.
  const alerts = {
    alertFilterRegexp: alertFilter,
    alertFilterMatchOnly: config.alertFilterMatchOnly,
    alertFiringOnly: config.alertFiringOnly,
    timeoutMs: config.prometheusTimeout,
    signal,
  };
  const gates = async (): Promise<GateResult> => {
    const steps: (() => Promise<GateResult>)[] = [
      () => checkHold(node, () => control.hold(), Date.now()),
      () => Promise.resolve(checkWindows(window, Temporal.Now.instant())),
    ];
    if (!guard.off) steps.push(() => guard.check());
    if (config.prometheusUrl) {
      steps.push(() => checkPrometheus({ url: config.prometheusUrl, ...alerts }));
    }
    if (config.alertmanagerUrl) {
      steps.push(() => checkAlertmanager({ url: config.alertmanagerUrl, ...alerts }));
    }
    if (config.prometheusQuery.length > 0) {
      const target = { url: config.prometheusUrl, timeoutMs: alerts.timeoutMs, signal };
      steps.push(() => checkPrometheusQueries(target, config.prometheusQuery));
    }
    if (config.blockingPodSelector.length > 0) {
      steps.push(() => checkBlockingPods(kube, node, config.blockingPodSelector));
    }
    steps.push(() => ownNode.preflight());
    for (const step of steps) {
      const r = await step();
      if (!r.clear) return r;
    }
    return { clear: true };
  };

  /** Whether the sentinel file existed at the last check (undefined: unknown), for its watch. */
  let sentinelSeen: boolean | undefined;
  const ports: Ports = {
    async sentinel(): Promise<SentinelObs> {
      const r = await checkSentinel(sentinel);
      sentinelSeen = "error" in r ? undefined : r.required;
      if ("warning" in r) log.warn(r.warning);
      let obs: SentinelObs = "error" in r ? { required: false, error: r.error } : { required: r.required };
      // required = sentinel OR an operator's request (`kreboot request-reboot`); a failing sentinel still blocks.
      const request = await control.request();
      if (request && !obs.required && !obs.error) {
        obs = { required: true, requestedBy: describeRequest(request) };
      }
      reporter.sentinel(obs);
      return obs;
    },
    gates,
    node: async () => {
      const n = await control.current();
      reporter.nodeSeen(n);
      return nodeState(n);
    },
    health: (confirmedAtMs) => health.judge(confirmedAtMs),
    async recordFailure(failure) {
      const opened = await breaker.record(failure);
      if (opened !== undefined) circuitOpened();
      return opened;
    },
    noteReboot: (sentinelRequired) => guard.noteReboot(sentinelRequired),
    lock,
    keeper,
    cordon: () => ownNode.prepareForDrain(signal),
    drain: (s) => ownNode.drain(s),
    reboot: async () => {
      // The drain and reboot messages go out before the host goes down (a hung webhook costs --notify-timeout),
      // and so do the Rebooting Event and condition (an API server away costs a few seconds at most).
      await Promise.all([reporter.flushNotifications(), reporter.flushWrites(REPORT_FLUSH_MS)]);
      await rebooter.reboot(signal);
    },
    describeReboot: () => rebooter.describe(),
    uncordon: async () => {
      await ownNode.restoreAfterReboot();
      await clearRequestAfterReboot(kube, node, await control.current(), log);
    },
    retreat: () => ownNode.retreat(),
    report(r, phase) {
      // After each try for a slot, the pause as the lock saw it says whether the breaker holds this node up.
      if (
        r.reason === "SlotAcquired" ||
        (r.reason === "RebootBlocked" && /^(paused|lock)$/.test(r.blockReason ?? ""))
      ) {
        const p = lock.pauseState();
        metrics.setCircuitOpen(p.paused && isBreakerPause(p.reason));
      }
      reporter.report(r, phase);
    },
    phaseChanged(phase) {
      reporter.phaseChanged(phase);
      if (phase === "idle" && !watchingCircuit) metrics.setCircuitOpen(false);
      // kured's --prefer-no-schedule-taint: on while this node waits for a slot, off when nothing is pending.
      if (phase === "waiting") void ownNode.setPendingTaint(true);
      else if (phase === "idle") void ownNode.setPendingTaint(false);
    },
    ...("file" in sentinel
      ? { sentinelChanged: (s: AbortSignal) => sentinelChanged(sentinel.file, s, sentinelSeen) }
      : {}),
    nodeControlChanged: (s) => control.changed(s),
  };

  const loop = new RebootLoop(ports, {
    machine: {
      forceReboot: config.forceReboot,
      rebootDelayMs: config.rebootDelay,
      releaseDelayMs: config.lockReleaseDelay,
      rebootTimeoutMs: config.rebootTimeout,
      dryRun: config.dryRun,
    },
    periodMs: config.period,
    once: config.once,
    log,
  });
  try {
    return await runWithRetry(loop, signal, log, config.once, config.lockTtl);
  } finally {
    keeper.stop();
    control.stop();
    alive = false;
    await reporter.flush();
    await server.shutdown();
    log.info("kreboot stopped");
  }
}

/** How long the reboot waits at most for the Events and condition written before it. */
const REPORT_FLUSH_MS = 5_000;

/** How long `--once` keeps trying to reach the API server before it gives up with exit 1. */
export const ONCE_RETRY_MS = 15_000;
/** A run of the loop that lasted this long was healthy: the next failure starts the backoff afresh. */
const HEALTHY_RUN_MS = 60_000;

/**
 * The loop only throws when the API server cannot be reached: wait with backoff and start it again, resuming in
 * the phase it was in (the slot keeper keeps a held slot renewed and guarded meanwhile), instead of exiting
 * into a crash loop. `--once` is a command someone waits for: it tries for ONCE_RETRY_MS, then fails with one
 * line.
 */
async function runWithRetry(
  loop: RebootLoop,
  signal: AbortSignal,
  log: Logger,
  once: boolean,
  lockTtlMs: number,
): Promise<number> {
  const giveUpAt = Date.now() + ONCE_RETRY_MS;
  // With --lock-ttl, a daemon restarted during an outage (in startup, so the slot keeper does not know of its
  // slot yet) must be back within a fraction of the TTL after the API server returns, or its silence lets a
  // waiter take the slot of a node that is still cordoned: the backoff stays below a third of the TTL.
  const maxBackoff = lockTtlMs > 0 ? Math.max(1_000, Math.min(60_000, Math.floor(lockTtlMs / 3))) : 60_000;
  let backoff = 1_000;
  while (true) {
    const startedAt = Date.now();
    try {
      return await loop.run(signal);
    } catch (e) {
      if (signal.aborted) return 0;
      if (Date.now() - startedAt > HEALTHY_RUN_MS) backoff = 1_000;
      const wait = once ? Math.min(backoff, giveUpAt - Date.now()) : backoff;
      if (wait <= 0) {
        throw new Error(
          `cannot reach the API server (gave up after ${ONCE_RETRY_MS / 1000} s with --once): ` +
            `${describeApiError(e)}. Check --kubeconfig and that the cluster is up.`,
        );
      }
      log.error("cannot reach the API server; retrying", { error: describeApiError(e), inMs: wait });
      await sleep(wait, signal);
      backoff = Math.min(backoff * 2, maxBackoff);
    }
  }
}
