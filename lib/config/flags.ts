/**
 * THE flag table: every flag kreboot accepts, once. Help text, environment binding, parsing, validation,
 * `kreboot config` JSON, `configToArgs` and the README's flag table are all derived from `FLAGS`.
 *
 * To add a flag: add its field to `Config`, then one `flag("key", …)` line below. The builders in
 * lib/config/kinds.ts (`stringFlag`, `durationFlag`, …) give each kind its parser, formatter and JSON form;
 * pass `check` for extra validation.
 */

import { InvalidValue } from "./errors.ts";
import {
  annotationKey,
  boolFlag,
  commandFlag,
  dnsLabel,
  dnsSubdomain,
  durationFlag,
  enumFlag,
  type FlagKind,
  type FlagSpec,
  httpUrl,
  intFlag,
  type JsonValue,
  labelKey,
  labelsFlag,
  nodeLabelKey,
  nonEmpty,
  selectorFlag,
  single,
  specListFlag,
  stringFlag,
  stripQuotes,
  timeFlag,
} from "./kinds.ts";
import { checkNotifyUrl } from "./notify_url.ts";
import { SAFETY_FLAGS, type SafetySettings } from "./safety_flags.ts";
import { parseTimeZone, parseWeekday, type TimeOfDay, type Weekday, WEEKDAYS } from "./kured_window.ts";
import { checkLabelSelector } from "./selector.ts";
import { LOG_FORMATS, type LogFormat } from "../log.ts";
import { type Budget, formatBudgetSpec, parseBudgetSpec } from "../budget/spec.ts";
import { formatWindowSpec, parseWindowSpec } from "../cron_windows/spec.ts";
import type { AnchoredWindow } from "../cron_windows/anchored.ts";

export type { FlagKind, FlagSpec, JsonValue, LogFormat };

export type RebootMethod = "command" | "signal";
/** `--concurrency`: a node count, or a percentage of the DaemonSet's nodes (rounded by the lock owner). */
export type Concurrency = { kind: "count"; n: number } | { kind: "percent"; percent: number };

/**
 * The parsed configuration. Durations are milliseconds; `*Seconds`-like ints stay seconds as in kured. The
 * rollout safety settings (issue 16) are declared with their flags in safety_flags.ts.
 */
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

export type FlagGroup = "kured" | "kreboot";

/** A flag with its types erased, as the parser and the generators use it. */
export interface Flag {
  /** kebab-case, without dashes. */
  name: string;
  key: keyof Config;
  kind: FlagKind;
  group: FlagGroup;
  help: string;
  /** Set for deprecated flags: what to use instead. */
  deprecated: string | undefined;
  secret: boolean;
  /** Environment variables in precedence order (KREBOOT_ before KURED_). */
  env: readonly string[];
  /** Repeatable? `array` = each occurrence is one element; `slice` = also split on commas. */
  list: "array" | "slice" | undefined;
  /** The default in flag syntax, for help and the README. */
  defaultText: string;
  decodeInto(target: Partial<Config>, raw: readonly string[]): void;
  applyDefault(target: Partial<Config>): void;
  encode(config: Config): string | readonly string[] | null;
  json(config: Config): JsonValue;
  isDefault(config: Config): boolean;
}

interface FlagOptions {
  group?: FlagGroup;
  deprecated?: string;
}

function flag<K extends keyof Config>(
  key: K,
  name: string,
  spec: FlagSpec<Config[K]>,
  options: FlagOptions = {},
): Flag {
  const group = options.group ?? "kured";
  const upper = name.toUpperCase().replaceAll("-", "_");
  const encodedDefault = spec.encode(spec.default);
  const same = (a: Config[K]) => JSON.stringify(spec.encode(a)) === JSON.stringify(encodedDefault);
  return {
    name,
    key,
    kind: spec.kind,
    group,
    help: spec.help,
    deprecated: options.deprecated,
    secret: spec.secret ?? false,
    // kured's own flags keep kured's KURED_ names so that existing DaemonSets work unchanged.
    env: group === "kured" ? [`KREBOOT_${upper}`, `KURED_${upper}`] : [`KREBOOT_${upper}`],
    list: spec.kind === "stringArray" ? "array" : spec.kind === "stringSlice" ? "slice" : undefined,
    defaultText: encodedDefault === null
      ? ""
      : typeof encodedDefault === "string"
      ? encodedDefault
      : `[${encodedDefault.join(",")}]`,
    decodeInto(target, raw) {
      target[key] = spec.decode(raw);
    },
    applyDefault(target) {
      target[key] = structuredClone(spec.default);
    },
    encode: (config) => spec.encode(config[key]),
    json: (config) => spec.json(config[key]),
    isDefault: (config) => same(config[key]),
  };
}

/** A flag of the rollout safety features (issue 16), whose spec lives in lib/config/safety_flags.ts. */
function safetyFlag<K extends keyof SafetySettings>(key: K): Flag {
  const { name, spec } = SAFETY_FLAGS[key];
  return flag(key, name, spec as FlagSpec<Config[K]>, { group: "kreboot" });
}

// ---------------------------------------------------------------------------------------------------
// The table. Order = help order = README order. kured's help texts are kept where they were accurate.

const SECOND = 1000;
const MINUTE = 60 * SECOND;

export const FLAGS: readonly Flag[] = [
  flag(
    "nodeId",
    "node-id",
    stringFlag(
      "Name of the node kreboot runs on; set it from spec.nodeName via the Downward API (KURED_NODE_ID). Required by the daemon.",
      "",
    ),
  ),
  flag(
    "forceReboot",
    "force-reboot",
    boolFlag("Reboot even if the cordon or the drain fails or times out.", false),
  ),
  flag(
    "metricsHost",
    "metrics-host",
    stringFlag("Host (address) the metrics server listens on; empty = all.", ""),
  ),
  flag(
    "metricsPort",
    "metrics-port",
    intFlag(
      "Port the metrics server listens on (1-65535; there is no value that disables it).",
      8080,
      1,
      65535,
    ),
  ),
  flag(
    "drainGracePeriod",
    "drain-grace-period",
    intFlag(
      "Seconds each pod gets to terminate gracefully during the drain; negative = the pod's own terminationGracePeriodSeconds, 0 = immediately.",
      -1,
      Number.MIN_SAFE_INTEGER,
      Number.MAX_SAFE_INTEGER,
    ),
  ),
  flag(
    "drainPodSelector",
    "drain-pod-selector",
    selectorFlag("Only drain pods whose labels match this selector; empty = all pods."),
  ),
  flag(
    "skipWaitForDeleteTimeout",
    "skip-wait-for-delete-timeout",
    intFlag(
      "When > 0, do not wait during the drain for pods whose deletion timestamp is older than this many seconds.",
      0,
      0,
      Number.MAX_SAFE_INTEGER,
    ),
  ),
  flag("drainDelay", "drain-delay", durationFlag("Wait this long before draining; 0 = no delay.", 0)),
  flag(
    "drainTimeout",
    "drain-timeout",
    durationFlag("Give up the drain after this long; 0 = wait forever.", 0),
  ),
  flag(
    "rebootDelay",
    "reboot-delay",
    durationFlag("Wait this long after the drain before rebooting; 0 = no delay.", 0),
  ),
  flag(
    "rebootMethod",
    "reboot-method",
    enumFlag<RebootMethod>(
      "How to reboot: command (run --reboot-command on the host) or signal (send --reboot-signal to PID 1).",
      "command",
      ["command", "signal"],
    ),
  ),
  flag(
    "period",
    "period",
    durationFlag(
      "How often to check whether a reboot is required (the first check is randomly offset).",
      60 * MINUTE,
      true,
    ),
  ),
  flag(
    "dsNamespace",
    "ds-namespace",
    stringFlag("Namespace of the DaemonSet that carries the lock.", "kube-system", dnsLabel),
  ),
  flag(
    "dsName",
    "ds-name",
    stringFlag("Name of the DaemonSet that carries the lock.", "kured", dnsSubdomain),
  ),
  flag(
    "lockAnnotation",
    "lock-annotation",
    stringFlag(
      "Annotation on the DaemonSet in which kured records the lock.",
      "weave.works/kured-node-lock",
      annotationKey,
    ),
  ),
  flag(
    "lockTtl",
    "lock-ttl",
    durationFlag("A lock older than this is considered abandoned and may be taken over; 0 = never.", 0),
  ),
  flag(
    "lockReleaseDelay",
    "lock-release-delay",
    durationFlag(
      "Keep the lock this long after the node came back before releasing it; 0 = release at once.",
      0,
    ),
  ),
  flag(
    "prometheusUrl",
    "prometheus-url",
    stringFlag(
      "Prometheus to ask for active alerts (ALERTS); any active alert blocks the reboot. Empty = no check.",
      "",
      httpUrl,
    ),
  ),
  flag("alertFilterRegexp", "alert-filter-regexp", {
    kind: "regexp",
    help:
      "Alert names matching this regular expression are ignored (checked as JavaScript RegExp syntax, not Go RE2). Unset = every alert counts; an empty value matches every name.",
    default: undefined,
    decode(raw) {
      const s = single(raw);
      try {
        new RegExp(s);
      } catch (e) {
        throw new InvalidValue(
          "a regular expression (JavaScript syntax)",
          e instanceof Error ? e.message : undefined,
        );
      }
      return s;
    },
    encode: (v) => v ?? null,
    json: (v) => v ?? null,
  }),
  flag(
    "alertFilterMatchOnly",
    "alert-filter-match-only",
    boolFlag("Invert --alert-filter-regexp: only alerts whose name matches block.", false),
  ),
  flag(
    "alertFiringOnly",
    "alert-firing-only",
    boolFlag("Only firing alerts block; pending ones are ignored.", false),
  ),
  flag(
    "rebootSentinel",
    "reboot-sentinel",
    stringFlag(
      "File whose existence means a reboot is required (as seen by kreboot); ignored when --reboot-sentinel-command is set.",
      "/var/run/reboot-required",
      nonEmpty("a file path"),
    ),
  ),
  flag(
    "preferNoScheduleTaint",
    "prefer-no-schedule-taint",
    stringFlag(
      "Taint key (effect PreferNoSchedule) put on a node that waits for its turn, e.g. weave.works/kured-node-reboot; empty = no taint.",
      "",
      (s) => (s === "" ? s : labelKey(s)),
    ),
  ),
  flag(
    "rebootSentinelCommand",
    "reboot-sentinel-command",
    commandFlag(
      "Command (shell-style quoting, no shell) run on the host; exit 0 means a reboot is required. Replaces the sentinel file.",
      [],
      false,
    ),
  ),
  flag(
    "rebootCommand",
    "reboot-command",
    commandFlag(
      "Command (shell-style quoting, no shell) run on the host to reboot it, with --reboot-method=command.",
      ["/bin/systemctl", "reboot"],
      true,
    ),
  ),
  flag("concurrency", "concurrency", {
    kind: "concurrency",
    help:
      "How many nodes may reboot at the same time: a count (1, 3) or a percentage of the nodes (1%..100%).",
    default: { kind: "count", n: 1 },
    decode(raw) {
      const s = single(raw);
      const expected = "a positive integer such as 2, or a percentage from 1% to 100%";
      const pct = /^(\d+)%$/.exec(s);
      if (pct) {
        const percent = Number(pct[1]);
        if (percent < 1 || percent > 100) throw new InvalidValue(expected, "percentage out of range");
        return { kind: "percent", percent };
      }
      if (!/^\+?\d+$/.test(s)) throw new InvalidValue(expected);
      const n = Number(s);
      if (!Number.isSafeInteger(n) || n < 1) throw new InvalidValue(expected);
      return { kind: "count", n };
    },
    encode: (v) => (v.kind === "count" ? String(v.n) : `${v.percent}%`),
    json: (v) => (v.kind === "count" ? v.n : `${v.percent}%`),
  }),
  flag(
    "rebootSignal",
    "reboot-signal",
    intFlag(
      "Signal sent to PID 1 with --reboot-method=signal; 39 = SIGRTMIN+5, systemd's reboot request.",
      39,
      1,
      64,
    ),
  ),
  flag(
    "slackHookUrl",
    "slack-hook-url",
    {
      ...stringFlag(
        "Slack webhook URL (https://hooks.slack.com/services/…); converted to a slack:// --notify-url.",
        "",
        stripQuotes,
      ),
      secret: true,
    },
    { deprecated: "use --notify-url=slack://T000/B000/XXXX" },
  ),
  flag(
    "slackUsername",
    "slack-username",
    stringFlag("Has no effect (kured never used it).", "kured"),
    { deprecated: "it has no effect; put the bot name in --notify-url (slack://botname@T000/B000/XXXX)" },
  ),
  flag(
    "slackChannel",
    "slack-channel",
    stringFlag("Has no effect (kured never used it).", ""),
    { deprecated: "it has no effect; put the channel in --notify-url (slack://…?channel=NAME)" },
  ),
  flag("notifyUrl", "notify-url", {
    ...stringFlag(
      "Where to send notifications, in shoutrrr URL syntax (slack://, teams+https:// for Teams Workflows, teams://, generic+https://, smtp://, …); surrounding quotes are stripped. Cannot be combined with --slack-hook-url.",
      "",
      (s) => {
        const url = stripQuotes(s);
        if (url !== "") checkNotifyUrl(url);
        return url;
      },
    ),
    secret: true,
  }),
  flag(
    "messageTemplateUncordon",
    "message-template-uncordon",
    stringFlag(
      "Notification after a node was rebooted and uncordoned; %s = node name.",
      "Node %s rebooted & uncordoned successfully!",
    ),
  ),
  flag(
    "messageTemplateDrain",
    "message-template-drain",
    stringFlag("Notification when a node starts draining; %s = node name.", "Draining node %s"),
  ),
  flag(
    "messageTemplateReboot",
    "message-template-reboot",
    stringFlag("Notification when a node is about to reboot; %s = node name.", "Rebooting node %s"),
  ),
  flag("blockingPodSelector", "blocking-pod-selector", {
    kind: "stringArray",
    help:
      "Repeatable. A running or pending pod on this node that matches the selector blocks the reboot. Commas inside a value are AND (never split); several flags are OR.",
    default: [],
    decode(raw) {
      for (const s of raw) {
        if (s.trim() === "") {
          throw new InvalidValue(
            "a non-empty label selector",
            "an empty selector matches every pod, including kreboot's own, and would block every reboot",
            s,
          );
        }
        try {
          checkLabelSelector(s);
        } catch (e) {
          if (e instanceof InvalidValue) throw new InvalidValue(e.expected, e.detail, s);
          throw e;
        }
      }
      return [...raw];
    },
    encode: (v) => v,
    json: (v) => [...v],
  }),
  flag("rebootDays", "reboot-days", {
    kind: "stringSlice",
    help:
      "Days on which reboots may start (su, mon, Tuesday or 0-6; comma-separated, repeatable). Empty = never.",
    default: [...WEEKDAYS],
    decode(raw) {
      const days: Weekday[] = [];
      for (const item of raw) {
        if (item === "") continue; // kured skips empty entries, so --reboot-days= means no day at all
        try {
          days.push(parseWeekday(item));
        } catch (e) {
          if (e instanceof InvalidValue) throw new InvalidValue(e.expected, e.detail, item);
          throw e;
        }
      }
      return days;
    },
    encode: (v) => v,
    json: (v) => [...v],
  }),
  flag("startTime", "start-time", timeFlag("Reboots may start from this time of day (inclusive).", "0:00")),
  flag(
    "endTime",
    "end-time",
    timeFlag("Reboots may start until the end of this second of the day (inclusive).", "23:59:59"),
  ),
  flag("timeZone", "time-zone", {
    kind: "timeZone",
    help:
      "Time zone of --reboot-days, --start-time and --end-time: UTC, Local or an IANA name such as Europe/Berlin.",
    default: "UTC",
    decode: (raw) => parseTimeZone(single(raw)),
    encode: (v) => v,
    json: (v) => v,
  }),
  flag(
    "annotateNodes",
    "annotate-nodes",
    boolFlag(
      "Set the annotations weave.works/kured-reboot-in-progress and weave.works/kured-most-recent-reboot-needed on nodes being rebooted.",
      false,
    ),
  ),
  flag(
    "logFormat",
    "log-format",
    enumFlag<LogFormat>("Log line format: text or json.", "text", LOG_FORMATS),
  ),
  flag(
    "preRebootNodeLabels",
    "pre-reboot-node-labels",
    labelsFlag("Labels key=value (comma-separated, repeatable) set on the node before it is cordoned."),
  ),
  flag(
    "postRebootNodeLabels",
    "post-reboot-node-labels",
    labelsFlag("Labels key=value (comma-separated, repeatable) set on the node after it is uncordoned."),
  ),

  // --- kreboot's own flags ---
  flag(
    "dryRun",
    "dry-run",
    boolFlag(
      "Decide and log as usual, but change nothing: API writes are sent with dryRun=All and no command is run on the host.",
      false,
    ),
    { group: "kreboot" },
  ),
  flag(
    "kubeconfig",
    "kubeconfig",
    stringFlag("Kubeconfig file; empty = in-cluster config, else $KUBECONFIG, else ~/.kube/config.", ""),
    { group: "kreboot" },
  ),
  flag(
    "once",
    "once",
    boolFlag("Run one decision pass, then exit (for cron-style runs and debugging).", false),
    {
      group: "kreboot",
    },
  ),
  flag(
    "nsenter",
    "nsenter",
    boolFlag(
      "Run the reboot and sentinel commands on the host through nsenter -t 1 -m --; false runs them directly (local runs, tests).",
      true,
    ),
    { group: "kreboot" },
  ),
  flag(
    "sentinelCommandTimeout",
    "sentinel-command-timeout",
    durationFlag(
      "Kill --reboot-sentinel-command after this long and count it as 'no reboot required'.",
      30 * SECOND,
      true,
    ),
    { group: "kreboot" },
  ),
  flag(
    "rebootTimeout",
    "reboot-timeout",
    durationFlag(
      "How long the host may take to go down after the reboot command returned before kreboot reports a failed reboot.",
      5 * MINUTE,
      true,
    ),
    { group: "kreboot" },
  ),
  flag(
    "recoveryTimeout",
    "recovery-timeout",
    durationFlag(
      "How long after a reboot to wait for the node and its DaemonSet pods to be Ready before reporting and uncordoning anyway.",
      10 * MINUTE,
      true,
    ),
    { group: "kreboot" },
  ),
  safetyFlag("postRebootReadyFor"),
  safetyFlag("waitForWorkloads"),
  safetyFlag("maxFailedReboots"),
  safetyFlag("failureWindow"),
  safetyFlag("minRebootInterval"),
  safetyFlag("maxConsecutiveReboots"),
  safetyFlag("drainDisableEvictionAfter"),
  flag(
    "notifyTimeout",
    "notify-timeout",
    durationFlag("Give up sending one notification after this long.", 10 * SECOND, true),
    { group: "kreboot" },
  ),
  flag(
    "prometheusTimeout",
    "prometheus-timeout",
    durationFlag(
      "Give up one Prometheus or Alertmanager query after this long (the reboot then counts as blocked).",
      10 * SECOND,
      true,
    ),
    { group: "kreboot" },
  ),
  flag(
    "alertmanagerUrl",
    "alertmanager-url",
    stringFlag(
      "Alertmanager to ask for active alerts (API v2); one that is neither silenced nor inhibited blocks the reboot, under the --alert-filter-* flags. Empty = no check.",
      "",
      (s) => httpUrl(s, "http://alertmanager.monitoring:9093"),
    ),
    { group: "kreboot" },
  ),
  flag("prometheusQuery", "prometheus-query", {
    kind: "stringArray",
    help:
      "Repeatable. A PromQL instant query asked of --prometheus-url; a non-empty result blocks the reboot, e.g. kube_deployment_status_replicas_unavailable > 0. Never split on commas.",
    default: [],
    decode(raw) {
      for (const q of raw) {
        if (q.trim() === "") throw new InvalidValue("a PromQL query", "empty", q);
      }
      return [...raw];
    },
    encode: (v) => v,
    json: (v) => [...v],
  }, { group: "kreboot" }),
  flag(
    "groupLabel",
    "group-label",
    stringFlag(
      "Node label whose values form groups that reboot independently, each with its own slots, --concurrency and budgets (e.g. topology.kubernetes.io/zone); nodes without it form one group. Empty = all nodes are one group.",
      "",
      (s) => (s === "" ? s : nodeLabelKey(s)),
    ),
    { group: "kreboot" },
  ),
  flag(
    "maxConcurrencyTotal",
    "max-concurrency-total",
    intFlag(
      "At most this many nodes reboot at the same time across all groups; 0 = no cap beyond each group's own.",
      0,
      0,
      Number.MAX_SAFE_INTEGER,
    ),
    { group: "kreboot" },
  ),
  flag(
    "budgets",
    "budget",
    specListFlag(
      "Repeatable. A reboot budget: nodes=N or nodes=P% (of the group's nodes, rounded up), optionally group=VALUE (of --group-label; empty = nodes without it) and schedule=CRON,duration=DUR[,tz=ZONE] for when it applies. Of a group's active budgets the most restrictive wins; --concurrency applies while none is active.",
      parseBudgetSpec,
      formatBudgetSpec,
    ),
    { group: "kreboot" },
  ),
  flag(
    "rebootWindows",
    "reboot-window",
    specListFlag(
      "Repeatable. A window in which reboots may start: cron=CRON,duration=DUR[,tz=ZONE], open from each cron time for DUR (also across midnight and DST). Reboots start while any is open and kured's --reboot-days/--start-time/--end-time window is too.",
      parseWindowSpec,
      formatWindowSpec,
    ),
    { group: "kreboot" },
  ),
];
