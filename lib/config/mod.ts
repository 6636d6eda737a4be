/**
 * kreboot's configuration: every kured 1.23.0 flag plus kreboot's own, from the command line and the
 * environment, validated before anything runs.
 *
 *   const { config, warnings } = parseConfig(args, Deno.env.toObject());   // throws ConfigError → exit 2
 *
 * `args` are the flags only: for `kreboot config --period=5m` pass `["--period=5m"]`.
 */

import { redact } from "../log.ts";
import { ConfigError } from "./errors.ts";
import { type Config, type Flag, FLAGS, type JsonValue } from "./flags.ts";
import { slackHookToNotifyUrl } from "./notify_url.ts";

export { ConfigError, HelpRequested, InvalidValue } from "./errors.ts";
export type {
  Concurrency,
  Config,
  Flag,
  FlagGroup,
  FlagKind,
  JsonValue,
  LogFormat,
  RebootMethod,
} from "./flags.ts";
export { FLAGS } from "./flags.ts";
export { parseGoBool } from "./kinds.ts";
export { defaultConfig, parseConfig, type ParseResult, wantsHelp } from "./parse.ts";
export { formatGoDuration, parseGoDuration } from "./duration.ts";
export { shlexJoin, shlexSplit } from "./shlex.ts";
export {
  formatTimeOfDay,
  parseTimeOfDay,
  parseTimeZone,
  parseWeekday,
  resolveTimeZone,
  type TimeOfDay,
  wallClock,
  type Weekday,
  weekdayNumber,
  WEEKDAYS,
} from "./kured_window.ts";
export { checkLabelSelector, labelKeyProblem, labelValueProblem } from "./selector.ts";

/** The daemon needs to know its node; subcommands such as `config` do not. Throws `ConfigError`. */
export function requireNodeId(config: Config): void {
  if (config.nodeId === "") {
    throw new ConfigError(
      "node-id",
      "--node-id is required: set KURED_NODE_ID (or KREBOOT_NODE_ID) from spec.nodeName with the Downward API, or pass --node-id=NAME",
    );
  }
}

export interface ConfigJsonOptions {
  /** Hide credentials in notification URLs (as the logger does). */
  redact?: boolean;
}

/**
 * What `kreboot config` prints: every flag by its name, values in flag syntax (durations as Go strings
 * such as `1h0m0s`, days as `su`..`sa`, commands re-quoted), so that the defaults can be compared with
 * kured's. An unset `--alert-filter-regexp` is null. `notify-url` is the effective URL.
 */
export function configToJson(config: Config, options: ConfigJsonOptions = {}): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const flag of FLAGS) {
    const value = flag.json(config);
    out[flag.name] = options.redact && flag.secret && typeof value === "string" ? redact(value) : value;
  }
  return out;
}

/**
 * The flags that differ from their defaults, as `--name=value` arguments (list flags once per element),
 * such that `parseConfig(configToArgs(c), {})` yields `c` again. Used by the DaemonSet generator.
 */
export function configToArgs(config: Config): string[] {
  const args: string[] = [];
  for (const flag of FLAGS) {
    if (flag.isDefault(config)) continue;
    // The effective notify URL derived from --slack-hook-url must not come back as a conflicting flag.
    if (flag.key === "notifyUrl" && derivedFromSlackHook(config)) continue;
    const encoded = flag.encode(config);
    if (encoded === null) continue;
    if (typeof encoded === "string") {
      args.push(`--${flag.name}=${encoded}`);
    } else if (encoded.length === 0) {
      args.push(`--${flag.name}=`); // an emptied list (e.g. no reboot days)
    } else {
      for (const item of encoded) args.push(`--${flag.name}=${item}`);
    }
  }
  return args;
}

function derivedFromSlackHook(config: Config): boolean {
  if (config.slackHookUrl === "") return false;
  try {
    return slackHookToNotifyUrl(config.slackHookUrl) === config.notifyUrl;
  } catch {
    return false;
  }
}

function envText(flag: Flag): string {
  return flag.env.join(", ");
}

/** The README's flag table. A test elsewhere compares it with README.md. */
export function flagTableMarkdown(): string {
  const cell = (s: string) => s.replaceAll("|", "\\|").replaceAll("\n", " ");
  const lines = [
    "| Flag | Environment | Default | Meaning | Origin |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const flag of FLAGS) {
    const def = flag.defaultText === "" ? '`""`' : `\`${cell(flag.defaultText)}\``;
    const meaning = flag.deprecated ? `**Deprecated**: ${flag.deprecated}. ${flag.help}` : flag.help;
    lines.push(
      `| \`--${flag.name}\` | ${flag.env.map((e) => `\`${e}\``).join(", ")} | ${def} | ${
        cell(meaning)
      } | ${flag.group} |`,
    );
  }
  return lines.join("\n") + "\n";
}

/**
 * The flags part of `kreboot --help` (lib/cli/help.ts puts the usage and the subcommands before it): the
 * flags grouped by origin, with type, default and environment variables.
 */
export function helpText(): string {
  const out: string[] = [
    "Flags win over KREBOOT_<FLAG>, which wins over KURED_<FLAG>. Booleans: --flag or --flag=false.",
  ];
  for (const group of ["kured", "kreboot"] as const) {
    out.push("", group === "kured" ? "kured-compatible flags:" : "kreboot flags:");
    for (const flag of FLAGS.filter((f) => f.group === group)) {
      const type = flag.kind === "bool" ? "" : ` ${flag.kind}`;
      const def = flag.defaultText === "" ? "" : ` (default ${flag.defaultText})`;
      out.push(`  --${flag.name}${type}${def}`);
      const text = flag.deprecated ? `DEPRECATED: ${flag.deprecated}. ${flag.help}` : flag.help;
      out.push(`      ${text}`);
      out.push(`      env: ${envText(flag)}`);
    }
  }
  return out.join("\n") + "\n";
}
