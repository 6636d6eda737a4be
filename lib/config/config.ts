/**
 * The parsed configuration, as the flag table (lib/config/flags.ts) fills it. Durations are milliseconds;
 * `*Seconds`-like ints stay seconds as in kured. The rollout safety settings (issue 16) are declared with their
 * flags in safety_flags.ts.
 */
import type { SafetySettings } from "./safety_flags.ts";
import type { TimeOfDay, Weekday } from "./kured_window.ts";
import type { LogFormat } from "../log.ts";
import type { Budget } from "../budget/spec.ts";
import type { AnchoredWindow } from "../cron_windows/anchored.ts";

export type RebootMethod = "command" | "signal";
/** `--concurrency`: a node count, or a percentage of the DaemonSet's nodes (rounded by the lock owner). */
export type Concurrency = { kind: "count"; n: number } | { kind: "percent"; percent: number };

export interface Config extends SafetySettings {
  // --- kured 1.23.0 flags ---
  nodeId: string;
  forceReboot: boolean;
  metricsHost: string;
  metricsPort: number;
  /** Seconds; negative = the pod's own terminationGracePeriodSeconds. */
  drainGracePeriod: number;
  drainPodSelector: string;
  /** Seconds; 0 = always wait. */
  skipWaitForDeleteTimeout: number;
  drainDelay: number;
  /** 0 = no timeout. */
  drainTimeout: number;
  rebootDelay: number;
  rebootMethod: RebootMethod;
  period: number;
  dsNamespace: string;
  dsName: string;
  lockAnnotation: string;
  /** 0 = locks never expire. */
  lockTtl: number;
  lockReleaseDelay: number;
  prometheusUrl: string;
  /** Source of the alert-name filter (JS RegExp syntax); undefined = unset, every alert blocks. */
  alertFilterRegexp: string | undefined;
  alertFilterMatchOnly: boolean;
  alertFiringOnly: boolean;
  rebootSentinel: string;
  /** Taint key; "" = no taint. */
  preferNoScheduleTaint: string;
  /** argv; [] = unset (use the sentinel file). */
  rebootSentinelCommand: string[];
  rebootCommand: string[];
  concurrency: Concurrency;
  rebootSignal: number;
  slackHookUrl: string;
  slackUsername: string;
  slackChannel: string;
  /** Effective notification URL: `--notify-url`, or converted from `--slack-hook-url`; "" = none. */
  notifyUrl: string;
  messageTemplateUncordon: string;
  messageTemplateDrain: string;
  messageTemplateReboot: string;
  /** Each element is one selector (AND inside); several = OR. */
  blockingPodSelector: string[];
  /** Canonical codes `su`..`sa` in the order given; [] = no day, never reboot. */
  rebootDays: Weekday[];
  startTime: TimeOfDay;
  endTime: TimeOfDay;
  /** `UTC`, `Local` or an IANA name; see `resolveTimeZone`. */
  timeZone: string;
  annotateNodes: boolean;
  logFormat: LogFormat;
  preRebootNodeLabels: Record<string, string>;
  postRebootNodeLabels: Record<string, string>;
  // --- kreboot flags ---
  dryRun: boolean;
  /** "" = in-cluster config, else $KUBECONFIG, else ~/.kube/config. */
  kubeconfig: string;
  once: boolean;
  nsenter: boolean;
  sentinelCommandTimeout: number;
  rebootTimeout: number;
  recoveryTimeout: number;
  notifyTimeout: number;
  prometheusTimeout: number;
  /** "" = no Alertmanager gate. */
  alertmanagerUrl: string;
  /** PromQL instant queries asked of `prometheusUrl`; a non-empty result blocks. */
  prometheusQuery: string[];
  /** Node label whose values form independent groups; "" = one group of all nodes. */
  groupLabel: string;
  /** 0 = no cap across groups. */
  maxConcurrencyTotal: number;
  budgets: Budget[];
  rebootWindows: AnchoredWindow[];
}
