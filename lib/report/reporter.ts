/**
 * The loop's reporting hooks. Every report of the state machine fans out to a log line, an Event on the Node,
 * the `RebootRequired` condition, metrics, kured's node annotations (with `--annotate-nodes`) and the
 * notification for the steps kured notifies about (drain, reboot, uncordon).
 *
 * Nothing here blocks the loop: `report` returns at once. Writes to the API server run one after another in
 * the background (so the condition and the Events keep the order of the reports), notifications run beside
 * them within `--notify-timeout`, and every failure is a log line. `flush` waits for all of it at shutdown.
 */
import type { Config } from "../config/mod.ts";
import { describeApiError, dryRunParam, type Kube, STRATEGIC_MERGE_PATCH } from "../kube/mod.ts";
import type { Logger } from "../log.ts";
import {
  HOLDING_PHASES,
  type Phase,
  type Report,
  REPORT_REASONS,
  type ReportReason,
  type SentinelObs,
} from "../machine/mod.ts";
import { NodeAnnotator } from "./annotations.ts";
import { conditionFor, conditionPatch, findCondition, type RebootCondition } from "./condition.ts";
import { EventRecorder } from "./events.ts";
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
}

/** kured's default, which it never used; only a non-default bot name is applied to slack:// URLs. */
const KURED_SLACK_USERNAME = "kured";
/** Background API writes beyond this are dropped (the API server is unreachable; they would be stale). */
const MAX_QUEUED = 50;

type PrevCondition = Parameters<typeof conditionPatch>[0];

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

  /** Throws `NotifyUrlError` when `--notify-url` cannot work. */
  constructor(opts: ReporterOptions) {
    this.#o = opts;
    const c = opts.config;
    this.#node = c.nodeId;
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
    this.#enqueue(async () => {
      await this.#readNode();
      await this.#events.record({ reason: r.reason, message: r.message, type, action: phase });
    });
    const cond = conditionFor(r);
    if (cond) this.#enqueue(() => this.#setCondition(cond));
    if (this.#o.config.annotateNodes) this.#annotate(r);
    this.#notify(r);
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

  /** Waits for queued API writes and notifications in flight (each bounded by its own timeout). */
  async flush(): Promise<void> {
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
    const c = this.#o.config;
    const flag = NOTIFY_TEMPLATE[r.reason];
    const template = flag === undefined ? "" : c[flag];
    if (template === "") return;
    const prefix = c.dryRun ? "[dry run] " : "";
    this.#notifier.notify({
      title: `kreboot: ${this.#node}`,
      message: prefix + formatTemplate(template, this.#node),
    });
  }

  /** Runs API writes one at a time, in report order, off the loop's path. */
  #enqueue(task: () => Promise<void>): void {
    if (this.#queued >= MAX_QUEUED) {
      if (!this.#droppedWarned) {
        this.#droppedWarned = true;
        this.#o.log.warn(
          "the API server is not keeping up; dropping Events and condition updates until it does",
        );
      }
      return;
    }
    this.#queued++;
    this.#chain = this.#chain.then(task).catch((e: unknown) => {
      this.#o.log.warn("reporting to the API server failed", { error: describeApiError(e) });
    }).finally(() => {
      this.#queued--;
      if (this.#queued === 0) this.#droppedWarned = false;
    });
  }

  /** Reads the node once for its uid (Events) and its current condition (so a restart does not rewrite it). */
  async #readNode(): Promise<void> {
    if (this.#nodeRead) return;
    try {
      const node = await this.#o.kube.core.readNode({ name: this.#node });
      this.#events.uid = node.metadata?.uid;
      this.#condition = findCondition(node);
      this.#nodeRead = true;
    } catch (e) {
      this.#o.log.warn("could not read the node for Events and its condition", {
        error: describeApiError(e),
      });
    }
  }

  async #setCondition(next: RebootCondition): Promise<void> {
    await this.#readNode();
    const now = this.#now();
    const patch = conditionPatch(this.#condition, next, now);
    if (!patch) return;
    try {
      await this.#o.kube.core.patchNodeStatus(
        { name: this.#node, body: patch, ...dryRunParam(this.#o.kube) },
        STRATEGIC_MERGE_PATCH,
      );
      const written = patch.status.conditions[0];
      this.#condition = written;
    } catch (e) {
      this.#o.log.warn("could not set the RebootRequired condition on the node", {
        state: next.state,
        error: describeApiError(e),
      });
    }
  }
}
