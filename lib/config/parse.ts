/**
 * argv + environment → Config, over the flag table. A small pflag-compatible parser rather than commander,
 * because pflag's forms are what users' DaemonSets contain: `--flag value`, `--flag=value`, bare
 * `--bool`, `--bool=false`, repeatable list flags, and no value-less `--bool false` (a stray `false` is an
 * error here rather than silently ignored).
 *
 * Precedence per flag: command line > KREBOOT_<FLAG> > KURED_<FLAG> > default. (kured lets the environment
 * win; kreboot does not, so that an explicit argument always means what it says.) A list flag given on the
 * command line takes only the command-line values. From the environment, a `stringSlice` value is split
 * on commas and a `stringArray` value (`--blocking-pod-selector`) is one element. An empty variable is
 * ignored, so KREBOOT_X="" falls through to KURED_X and then to the default.
 */

import { redact } from "../log.ts";
import { ConfigError, HelpRequested, InvalidValue } from "./errors.ts";
import { type Config, type Flag, FLAGS } from "./flags.ts";
import { slackHookToNotifyUrl } from "./notify_url.ts";
import { checkGroupFlags } from "../budget/check.ts";

export interface ParseResult {
  config: Config;
  /** One line each (deprecated flags, suspicious combinations); the caller logs them. */
  warnings: string[];
}

/** Where a value came from, for messages. */
type Source = { kind: "flag" } | { kind: "env"; name: string } | { kind: "default" };

const BY_NAME = new Map(FLAGS.map((f) => [f.name, f]));

/** True when argv asks for help (`-h`, `--help`) before any `--` terminator. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === "--") return false;
    if (a === "-h" || a === "--help" || a === "-help") return true;
  }
  return false;
}

/**
 * Parses flags (argv WITHOUT the program and subcommand names) and the environment.
 * Throws `ConfigError` (one line, names the flag and the value) or `HelpRequested`.
 */
export function parseConfig(argv: readonly string[], env: Record<string, string | undefined>): ParseResult {
  if (wantsHelp(argv)) throw new HelpRequested();
  const cli = scanArgv(argv);
  const target: Partial<Config> = {};
  const sources = new Map<Flag, Source>();
  for (const flag of FLAGS) {
    let raw: readonly string[] | undefined = cli.get(flag);
    let source: Source = { kind: "flag" };
    if (raw !== undefined) {
      if (flag.list === "slice") raw = raw.flatMap((v) => v.split(","));
    } else {
      // An empty variable counts as unset (as viper's default does): manifests often render `value: ""`
      // for "not configured", and that must not mean "no reboot days" or fail a boolean parse.
      const name = flag.env.find((e) => env[e] !== undefined && env[e] !== "");
      const value = name === undefined ? undefined : env[name];
      if (name !== undefined && value !== undefined) {
        source = { kind: "env", name };
        raw = flag.list === "slice" ? value.split(",") : [value];
      }
    }
    if (raw === undefined) {
      source = { kind: "default" };
    } else {
      decode(flag, raw, source, target);
    }
    sources.set(flag, source);
  }
  const defaults = defaultConfig();
  const config: Config = { ...defaults, ...target };
  return { config, warnings: crossCheck(config, sources) };
}

/** The configuration with every flag at its default. */
export function defaultConfig(): Config {
  const target: Partial<Config> = {};
  for (const flag of FLAGS) flag.applyDefault(target);
  return target as Config;
}

function scanArgv(argv: readonly string[]): Map<Flag, string[]> {
  const found = new Map<Flag, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--") {
      const extra = argv[i + 1];
      if (extra === undefined) break;
      throw new ConfigError(
        undefined,
        `unexpected argument ${JSON.stringify(shorten(extra))}: kreboot takes only flags`,
      );
    }
    if (!arg.startsWith("-") || arg === "-") {
      const hint = /^(true|false|[01tf])$/i.test(arg)
        ? ` (a boolean takes its value after =, e.g. --force-reboot=${arg})`
        : " (write flags as --name=value)";
      throw new ConfigError(undefined, `unexpected argument ${JSON.stringify(shorten(arg))}${hint}`);
    }
    if (!arg.startsWith("--")) {
      throw new ConfigError(
        undefined,
        `unknown shorthand flag ${JSON.stringify(shorten(arg))}: kreboot's flags are all --long`,
      );
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const flag = BY_NAME.get(name);
    if (flag === undefined) throw new ConfigError(name, `unknown flag --${shorten(name)} (see --help)`);
    let value: string;
    if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else if (flag.kind === "bool") {
      value = "true";
    } else {
      const next = argv[i + 1];
      if (next === undefined) throw new ConfigError(name, `flag needs an argument: --${name}`);
      value = next;
      i++;
    }
    const list = found.get(flag) ?? [];
    // Single-valued flags keep only the last occurrence, as pflag does.
    if (flag.list === undefined) list.length = 0;
    list.push(value);
    found.set(flag, list);
  }
  return found;
}

function decode(flag: Flag, raw: readonly string[], source: Source, target: Partial<Config>): void {
  try {
    flag.decodeInto(target, raw);
  } catch (e) {
    if (!(e instanceof InvalidValue)) throw e;
    const value = e.value ?? (flag.list ? raw.join(",") : raw[raw.length - 1] ?? "");
    throw new ConfigError(
      flag.name,
      `invalid value ${quote(flag, value)} for ${where(flag, source)}: ${e.message}`,
    );
  }
}

function quote(flag: Flag, value: string): string {
  return JSON.stringify(shorten(flag.secret ? redact(value) : value));
}

/** A value quoted in a message is cut to a readable length: the error line must stay one short line. */
function shorten(value: string): string {
  const max = 200;
  return value.length <= max ? value : `${value.slice(0, max)}… (${value.length} characters)`;
}

function where(flag: Flag, source: Source): string {
  return source.kind === "env"
    ? `--${flag.name} (from environment variable ${source.name})`
    : `--${flag.name}`;
}

function isSet(sources: Map<Flag, Source>, name: string): boolean {
  const flag = BY_NAME.get(name);
  return flag !== undefined && sources.get(flag)?.kind !== "default";
}

function crossCheck(config: Config, sources: Map<Flag, Source>): string[] {
  const warnings: string[] = [];
  for (const flag of FLAGS) {
    if (flag.deprecated && isSet(sources, flag.name)) {
      warnings.push(`--${flag.name} is deprecated: ${flag.deprecated}`);
    }
  }
  if (config.slackHookUrl !== "") {
    if (config.notifyUrl !== "") {
      // kured only warns and ignores the hook; a conflicting pair is more likely a half-done migration.
      throw new ConfigError(
        "notify-url",
        "--notify-url and --slack-hook-url cannot be used together: remove --slack-hook-url (deprecated) and keep --notify-url",
      );
    }
    const flag = BY_NAME.get("slack-hook-url");
    try {
      config.notifyUrl = slackHookToNotifyUrl(config.slackHookUrl);
    } catch (e) {
      if (!(e instanceof InvalidValue) || flag === undefined) throw e;
      const source = sources.get(flag) ?? { kind: "flag" };
      throw new ConfigError(
        flag.name,
        `invalid value ${quote(flag, config.slackHookUrl)} for ${where(flag, source)}: ${e.message}`,
      );
    }
  }
  if (config.prometheusQuery.length > 0 && config.prometheusUrl === "") {
    throw new ConfigError(
      "prometheus-query",
      "--prometheus-query needs --prometheus-url: set the Prometheus to ask, e.g. --prometheus-url=http://prometheus.monitoring:9090",
    );
  }
  const preKeys = Object.keys(config.preRebootNodeLabels).sort();
  const postKeys = Object.keys(config.postRebootNodeLabels).sort();
  if (preKeys.join(",") !== postKeys.join(",")) {
    warnings.push(
      "--pre-reboot-node-labels and --post-reboot-node-labels set different keys: a label set before the reboot stays on the node after it",
    );
  }
  checkGroupFlags(config);
  if (config.rebootSentinelCommand.length > 0 && isSet(sources, "reboot-sentinel")) {
    warnings.push("--reboot-sentinel is ignored because --reboot-sentinel-command is set");
  }
  return warnings;
}
