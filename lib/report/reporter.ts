/**
 * The loop's reporting hooks. Every report of the state machine fans out to a log line, an Event on the Node,
 * the `RebootRequired` condition, metrics, kured's node annotations (with `--annotate-nodes`) and the
 * notification for the steps kured notifies about (drain, reboot, uncordon).
 *
 * Nothing here blocks the loop: `report` returns at once. Writes to the API server run one after another in
 * the background (so the condition and the Events keep the order of the reports), notifications run beside
 * them within `--notify-timeout`, and every failure is a log line. `flush` waits for all of it at shutdown.
 */
import type * as k8s from "@kubernetes/client-node";
import type { Config } from "../config/mod.ts";
import { describeApiError, dryRunParam, type Kube, STRATEGIC_MERGE_PATCH } from "../kube/mod.ts";
import type { Logger } from "../log.ts";
import {
  type EventType,
  HOLDING_PHASES,
  type Phase,
  type Report,
  REPORT_REASONS,
  type ReportReason,
  type SentinelObs,
} from "../machine/mod.ts";
import {
  blockedPodCounts,
  DRAIN_BLOCKED_REASON,
  drainBlockedMessage,
  type DrainBlocker,
  EVICTION_BYPASSED_REASON,
} from "../drain/blockers.ts";
import { NodeAnnotator } from "./annotations.ts";
import { conditionFor, conditionPatch, findCondition, type RebootCondition } from "./condition.ts";
import { EventRecorder } from "./events.ts";
import { CONDITION_SETTLE_MS, Settling } from "./settling.ts";
import type { Metrics } from "./metrics.ts";
import { formatTemplate, Notifier } from "./notify/send.ts";
import { withSlackOverrides } from "./notify/url.ts";

/** The configuration the reporter reads (a slice of the daemon's `Config`). */
export type ReporterConfig = Pick<
  Config,
  | "nodeId"
  | "dryRun"
  | "annotateNodes"
  | "notifyUrl"
  | "notifyTimeout"
  | "messageTemplateDrain"
  | "messageTemplateReboot"
  | "messageTemplateUncordon"
  | "slackChannel"
  | "slackUsername"
>;

export interface ReporterOptions {
  config: ReporterConfig;
  kube: Kube;
  log: Logger;
  metrics: Metrics;
  now?: () => Date;
  /** For tests: the fetch notifications use. */
  fetch?: typeof fetch;
  /** At most one Event write per reason+message in this interval; default 60 s. */
  eventIntervalMs?: number;
  /**
   * Told of each condition write as it is queued, with the Node as the write will leave it (undefined when
   * nothing is written): lib/node_control/watch.ts `expect`. Not called in a dry run.
   */
  nodeWrites?: (written: Promise<k8s.V1Node | undefined>) => void;
  /** How long a condition step must stand before it is written; default CONDITION_SETTLE_MS, 0 = at once. */
  conditionSettleMs?: number;
}

/** kured's default, which it never used; only a non-default bot name is applied to slack:// URLs. */
const KURED_SLACK_USERNAME = "kured";
/** Background API writes beyond this are dropped (the API server is unreachable; they would be stale). */
const MAX_QUEUED = 50;

type PrevCondition = Parameters<typeof conditionPatch>[0];
/** A condition to write, or a function that decides when its turn comes (undefined: write none). */
type QueuedCondition = RebootCondition | (() => RebootCondition | undefined);

/** The steps kured notifies about, with the flag that holds each one's message template. */
const NOTIFY_TEMPLATE: Partial<
  Record<ReportReason, "messageTemplateDrain" | "messageTemplateReboot" | "messageTemplateUncordon">
> = {
  Draining: "messageTemplateDrain",
  Rebooting: "messageTemplateReboot",
  Uncordoned: "messageTemplateUncordon",
};

export class Reporter {
  #o: ReporterOptions;
  #node: string;
  #events: EventRecorder;
  #annotator: NodeAnnotator;
  #notifier: Notifier;
  #chain: Promise<void> = Promise.resolve();
  #queued = 0;
  #droppedWarned = false;
  /** The node's uid and the condition as last seen or written; undefined until the node was read. */
  #nodeRead = false;
  #condition: PrevCondition;
  /** A confirmed reboot whose in-progress annotation waits for the sentinel to be gone. */
  #clearAfterReboot = false;
  /** Condition steps, each written once it has stood CONDITION_SETTLE_MS. */
  #conditions: Settling<QueuedCondition>;

  /** Throws `NotifyUrlError` when `--notify-url` cannot work. */
  constructor(opts: ReporterOptions) {
    this.#o = opts;
    const c = opts.config;
    this.#node = c.nodeId;
    this.#conditions = new Settling(
      opts.conditionSettleMs ?? CONDITION_SETTLE_MS,
      (c) => this.#queueCondition(c),
    );
    const now = opts.now ?? (() => new Date());
    this.#events = new EventRecorder(opts.kube, {
      node: this.#node,
      log: opts.log,
      now,
      ...(opts.eventIntervalMs === undefined ? {} : { minIntervalMs: opts.eventIntervalMs }),
    });
    this.#annotator = new NodeAnnotator(opts.kube, this.#node, opts.log, now);
    const url = withSlackOverrides(c.notifyUrl, {
      channel: c.slackChannel,
      username: c.slackUsername === KURED_SLACK_USERNAME ? "" : c.slackUsername,
    });
    this.#notifier = new Notifier({
      url,
      timeoutMs: c.notifyTimeout,
      log: opts.log,
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    });
  }

  #now(): Date {
    return this.#o.now?.() ?? new Date();
  }

  /** The loop's `report` hook. Returns at once. */
  report(r: Report, phase: Phase): void {
    const fields = { reason: r.reason, ...(r.blockReason ? { blockReason: r.blockReason } : {}) };
    const type = REPORT_REASONS[r.reason];
    if (type === "Warning") this.#o.log.warn(r.message, fields);
    else this.#o.log.info(r.message, fields);

    this.#updateMetrics(r);
    this.#event(r.reason, r.message, type, phase);
    const cond = conditionFor(r);
    if (cond) this.#conditions.put(cond);
    if (this.#o.config.annotateNodes) this.#annotate(r);
    this.#notify(r);
  }

  /**
   * A read of this node made for the loop (lib/node_control/watch.ts): the first gives the uid for Events and the
   * condition as it is, so the reporter need not read the node itself.
   */
  nodeSeen(node: k8s.V1Node): void {
    if (this.#nodeRead) return;
    this.#learn(node);
  }

  /**
   * The drain's report of the pods that hold it up (lib/drain/blocked.ts): every pod with its cause in the
   * node condition's message, a `DrainBlocked` Event and `kreboot_drain_blocked_pods`; [] puts the condition
   * back to draining. Returns at once.
   */
  drainBlocked(blockers: readonly DrainBlocker[]): void {
    this.#o.metrics.setDrainBlocked(blockedPodCounts(blockers));
    if (blockers.length === 0) {
      this.#o.log.info("no pod blocks the drain any more");
      this.#conditions.put(() =>
        this.#condition?.reason === DRAIN_BLOCKED_REASON
          ? { status: "True", state: "Draining", message: "draining node" }
          : undefined
      );
      return;
    }
    const message = drainBlockedMessage(blockers);
    this.#o.log.warn(message, { reason: DRAIN_BLOCKED_REASON });
    this.#event(DRAIN_BLOCKED_REASON, message, "Warning", "draining");
    this.#conditions.put({ status: "True", state: DRAIN_BLOCKED_REASON, message });
  }

  /**
   * A pod deleted instead of evicted (`--drain-disable-eviction-after`): an Event and a notification, since
   * its PodDisruptionBudget or admission check was bypassed. Returns at once.
   */
  evictionBypassed(pod: string, why: string): void {
    const message = `deleted pod ${pod} instead of evicting it, bypassing its PodDisruptionBudget ` +
      `(--drain-disable-eviction-after): its eviction was still refused: ${why}`;
    this.#o.log.warn(message, { reason: EVICTION_BYPASSED_REASON });
    this.#event(EVICTION_BYPASSED_REASON, message, "Warning", "draining");
    this.#say(message);
  }

  /** The loop's `phaseChanged` hook. */
  phaseChanged(phase: Phase): void {
    const m = this.#o.metrics;
    m.setPhase(phase);
    const holding = HOLDING_PHASES.has(phase);
    m.setSlotHeld(holding);
    // Holding a slot or idle: nothing blocks a reboot any more.
    if (holding || phase === "idle") m.setBlocked(undefined);
  }

  /** Every sentinel check: kured's `kured_reboot_required` follows it, and so does the annotation cleanup. */
  sentinel(obs: SentinelObs): void {
    if (obs.error) return;
    this.#o.metrics.setRebootRequired(obs.required);
    if (!obs.required && this.#clearAfterReboot) {
      this.#clearAfterReboot = false;
      this.#enqueue(() => this.#annotator.clearInProgress());
    }
  }

  /**
   * Waits for the notifications in flight, each bounded by `--notify-timeout`. The loop calls it right before
   * the reboot command, as kured sends its reboot message before rebooting: a host going down would cut them.
   */
  async flushNotifications(): Promise<void> {
    await this.#notifier.flush();
  }

  /**
   * Waits at most `maxMs` for the Events and condition writes queued so far. The loop calls it before the
   * reboot command too: the host going down would cut the `Rebooting` condition a user should see meanwhile.
   */
  async flushWrites(maxMs: number): Promise<void> {
    this.#conditions.flush();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#chain, new Promise<void>((r) => (timer = setTimeout(r, maxMs)))]);
    clearTimeout(timer);
  }

  /** Waits for queued API writes and notifications in flight (each bounded by its own timeout). */
  async flush(): Promise<void> {
    this.#conditions.flush();
    await this.#chain;
    await this.#events.flush();
    await this.#notifier.flush();
  }

  #updateMetrics(r: Report): void {
    const m = this.#o.metrics;
    switch (r.reason) {
      case "RebootRequired":
        m.setRebootRequired(true);
        break;
      case "RebootNotRequired":
        m.setRebootRequired(false);
        m.setBlocked(undefined);
        break;
      case "RebootBlocked":
      case "SentinelError":
      case "RebootLoop":
        if (r.blockReason) m.setBlocked(r.blockReason);
        break;
      case "Rebooting":
        if (this.#o.config.dryRun) m.countReboot("dry-run");
        break;
      case "RebootFailed":
        m.countReboot("failed");
        break;
      case "RebootConfirmed":
      case "RebootAssumed":
        m.countReboot("ok");
        m.setLastReboot(this.#now());
        break;
      default:
        break;
    }
  }

  #annotate(r: Report): void {
    switch (r.reason) {
      case "RebootRequired":
        this.#enqueue(() => this.#annotator.markRequired());
        break;
      case "RebootNotRequired":
        this.#clearAfterReboot = false;
        this.#enqueue(() => this.#annotator.clearInProgress());
        break;
      case "RebootConfirmed":
      case "RebootAssumed":
        this.#clearAfterReboot = true;
        break;
      default:
        break;
    }
  }

  #notify(r: Report): void {
    // Reboots stop cluster-wide until someone acts: worth a message of its own.
    if (r.reason === "CircuitBreakerOpen") return this.#say(`Reboots paused: ${r.message}`);
    const c = this.#o.config;
    const flag = NOTIFY_TEMPLATE[r.reason];
    const template = flag === undefined ? "" : c[flag];
    if (template === "") return;
    this.#say(formatTemplate(template, this.#node));
  }

  /** Sends one notification about this node (marked in a dry run). */
  #say(message: string): void {
    const prefix = this.#o.config.dryRun ? "[dry run] " : "";
    this.#notifier.notify({ title: `kreboot: ${this.#node}`, message: prefix + message });
  }

  /** An Event on the Node, in report order. */
  #event(reason: string, message: string, type: EventType, action: Phase): void {
    this.#enqueue(async () => {
      await this.#readNode();
      await this.#events.record({ reason, message, type, action });
    });
  }

  /** A condition write, announced to `nodeWrites`; a function decides when its turn comes (undefined: none). */
  #queueCondition(cond: QueuedCondition): void {
    let settle: (node: k8s.V1Node | undefined) => void = () => {};
    const written = new Promise<k8s.V1Node | undefined>((r) => (settle = r));
    if (!this.#o.kube.dryRun) this.#o.nodeWrites?.(written);
    const queued = this.#enqueue(async () => {
      try {
        const next = typeof cond === "function" ? cond() : cond;
        settle(next ? await this.#setCondition(next) : undefined);
      } finally {
        settle(undefined);
      }
    });
    if (!queued) settle(undefined);
  }

  /** Runs API writes one at a time, in report order, off the loop's path. False when dropped. */
  #enqueue(task: () => Promise<void>): boolean {
    if (this.#queued >= MAX_QUEUED) {
      if (!this.#droppedWarned) {
        this.#droppedWarned = true;
        this.#o.log.warn(
          "the API server is not keeping up; dropping Events and condition updates until it does",
        );
      }
      return false;
    }
    this.#queued++;
    this.#chain = this.#chain.then(task).catch((e: unknown) => {
      this.#o.log.warn("reporting to the API server failed", { error: describeApiError(e) });
    }).finally(() => {
      this.#queued--;
      if (this.#queued === 0) this.#droppedWarned = false;
    });
    return true;
  }

  /**
   * The node's uid (Events) and its current condition (so a restart does not rewrite it), read once unless the
   * loop's read came first (`nodeSeen`).
   */
  async #readNode(): Promise<void> {
    if (this.#nodeRead) return;
    try {
      this.#learn(await this.#o.kube.core.readNode({ name: this.#node }));
    } catch (e) {
      this.#o.log.warn("could not read the node for Events and its condition", {
        error: describeApiError(e),
      });
    }
  }

  #learn(node: k8s.V1Node): void {
    this.#events.uid = node.metadata?.uid;
    this.#condition = findCondition(node);
    this.#nodeRead = true;
  }

  /** Writes the condition if it changed; the Node as the write left it, or undefined. */
  async #setCondition(next: RebootCondition): Promise<k8s.V1Node | undefined> {
    await this.#readNode();
    const now = this.#now();
    const patch = conditionPatch(this.#condition, next, now);
    if (!patch) return undefined;
    try {
      const node = await this.#o.kube.core.patchNodeStatus(
        { name: this.#node, body: patch, ...dryRunParam(this.#o.kube) },
        STRATEGIC_MERGE_PATCH,
      );
      const written = patch.status.conditions[0];
      this.#condition = written;
      return node;
    } catch (e) {
      this.#o.log.warn("could not set the RebootRequired condition on the node", {
        state: next.state,
        error: describeApiError(e),
      });
      return undefined;
    }
  }
}
