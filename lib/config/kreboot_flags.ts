/** kreboot's own flags, after kured's in help and README order (lib/config/flags.ts). */
import { InvalidValue } from "./errors.ts";
import { boolFlag, durationFlag, httpUrl, intFlag, nodeLabelKey, specListFlag, stringFlag } from "./kinds.ts";
import { formatBudgetSpec, parseBudgetSpec } from "../budget/spec.ts";
import { formatWindowSpec, parseWindowSpec } from "../cron_windows/spec.ts";
import { MINUTE, SECOND } from "./duration.ts";
import { type Flag, flag, safetyFlag } from "./flag.ts";

export const KREBOOT_FLAGS: readonly Flag[] = [
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
