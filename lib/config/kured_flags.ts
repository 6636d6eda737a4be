/** kured 1.23.0's flags, in kured's order, with kured's names, defaults and meaning (lib/config/flags.ts). */
import { InvalidValue } from "./errors.ts";
import {
  annotationKey,
  boolFlag,
  commandFlag,
  dnsLabel,
  dnsSubdomain,
  durationFlag,
  enumFlag,
  httpUrl,
  intFlag,
  labelKey,
  labelsFlag,
  nonEmpty,
  selectorFlag,
  single,
  stringFlag,
  stripQuotes,
  timeFlag,
} from "./kinds.ts";
import { checkNotifyUrl } from "./notify_url.ts";
import { parseTimeZone, parseWeekday, type Weekday, WEEKDAYS } from "./kured_window.ts";
import { checkLabelSelector } from "./selector.ts";
import { LOG_FORMATS, type LogFormat } from "../log.ts";
import { MINUTE } from "./duration.ts";
import { type Flag, flag } from "./flag.ts";
import type { RebootMethod } from "./config.ts";

export const KURED_FLAGS: readonly Flag[] = [
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
];
