/**
 * The flag kinds: each kind's parser, formatter and JSON form (`stringFlag`, `durationFlag`, …), and the small
 * checks string flags share. lib/config/flags.ts builds the flag table from these; nothing here knows a flag.
 */

import { formatGoDuration, parseGoDuration } from "./duration.ts";
import { InvalidValue } from "./errors.ts";
import { isDnsLabel, isDnsSubdomain } from "./names.ts";
import { formatTimeOfDay, parseTimeOfDay, type TimeOfDay } from "./kured_window.ts";
import { checkLabelSelector, labelKeyProblem, labelValueProblem } from "./selector.ts";
import { shlexJoin, shlexSplit } from "./shlex.ts";

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

/**
 * The value syntax of a flag. The first seven are pflag's types, as kured declares them; `stringArray` is
 * repeatable and never split, `stringSlice` is repeatable and comma-split. The rest are kreboot's names
 * for strings with a stricter syntax.
 */
export type FlagKind =
  | "string"
  | "int"
  | "bool"
  | "duration"
  | "regexp"
  | "stringArray"
  | "stringSlice"
  | "command"
  | "selector"
  | "timeOfDay"
  | "timeZone"
  | "url"
  | "enum"
  | "concurrency";

/** How a flag's value is defined, typed by the Config field it fills. */
export interface FlagSpec<T> {
  kind: FlagKind;
  /** Help text: one sentence or two, what it does and what the special values mean. */
  help: string;
  default: T;
  /** Parses the raw occurrences: exactly one string for single-valued kinds, the elements for lists. */
  decode(raw: readonly string[]): T;
  /** Flag syntax: a string (one `--name=value`), a list (one `--name=v` each), or null (unset). */
  encode(value: T): string | readonly string[] | null;
  /** The `kreboot config` JSON form. */
  json(value: T): JsonValue;
  /** Values that may carry credentials; redacted by `configToJson(…, {redact: true})`. */
  secret?: boolean;
}

// ---------------------------------------------------------------------------------------------------
// Builders, one per kind.

export function single(raw: readonly string[]): string {
  return raw[raw.length - 1] ?? "";
}

export function stringFlag(help: string, def: string, check?: (s: string) => string): FlagSpec<string> {
  return {
    kind: "string",
    help,
    default: def,
    decode: (raw) => (check ? check(single(raw)) : single(raw)),
    encode: (v) => v,
    json: (v) => v,
  };
}

export function intFlag(help: string, def: number, min: number, max: number): FlagSpec<number> {
  return {
    kind: "int",
    help,
    default: def,
    decode(raw) {
      const s = single(raw);
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `${min}..${max}`;
      if (!/^[+-]?\d+$/.test(s)) {
        throw new InvalidValue(`an integer ${range}`, s === "" ? "empty" : undefined);
      }
      const n = Number(s);
      if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidValue(`an integer ${range}`);
      return n;
    },
    encode: (v) => String(v),
    json: (v) => v,
  };
}

/** Go's `strconv.ParseBool`. */
export function parseGoBool(s: string): boolean {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(s)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(s)) return false;
  throw new InvalidValue("true or false (also 1/0, t/f)");
}

export function boolFlag(help: string, def: boolean): FlagSpec<boolean> {
  return {
    kind: "bool",
    help,
    default: def,
    decode: (raw) => parseGoBool(single(raw)),
    encode: (v) => String(v),
    json: (v) => v,
  };
}

export function durationFlag(help: string, def: number, positive = false): FlagSpec<number> {
  return {
    kind: "duration",
    help,
    default: def,
    decode(raw) {
      const ms = parseGoDuration(single(raw));
      if (positive ? ms <= 0 : ms < 0) {
        throw new InvalidValue(
          positive ? "a positive Go duration such as 30s" : "a non-negative Go duration",
        );
      }
      return ms;
    },
    encode: (v) => formatGoDuration(v),
    json: (v) => formatGoDuration(v),
  };
}

export function enumFlag<T extends string>(help: string, def: T, values: readonly T[]): FlagSpec<T> {
  return {
    kind: "enum",
    help,
    default: def,
    decode(raw) {
      const s = single(raw);
      const found = values.find((v) => v === s);
      if (found === undefined) throw new InvalidValue(`one of ${values.join(", ")}`);
      return found;
    },
    encode: (v) => v,
    json: (v) => v,
  };
}

export function commandFlag(help: string, def: string[], required: boolean): FlagSpec<string[]> {
  return {
    kind: "command",
    help,
    default: def,
    decode(raw) {
      const s = single(raw);
      if (s === "" && !required) return [];
      const argv = shlexSplit(s);
      if (argv.length === 0) throw new InvalidValue("a command line split with shell-style quoting", "empty");
      return argv;
    },
    encode: (v) => shlexJoin(v),
    json: (v) => shlexJoin(v),
  };
}

export function selectorFlag(help: string): FlagSpec<string> {
  return {
    kind: "selector",
    help,
    default: "",
    decode(raw) {
      const s = single(raw);
      checkLabelSelector(s);
      return s;
    },
    encode: (v) => v,
    json: (v) => v,
  };
}

export function labelsFlag(help: string): FlagSpec<Record<string, string>> {
  const expected = "comma-separated node labels key=value with valid label keys and values";
  return {
    kind: "stringSlice",
    help,
    default: {},
    decode(raw) {
      const labels: Record<string, string> = {};
      for (const item of raw) {
        if (item === "") continue;
        const eq = item.indexOf("=");
        if (eq < 0) throw new InvalidValue(expected, "missing =", item);
        const k = item.slice(0, eq);
        const v = item.slice(eq + 1);
        const problem = labelKeyProblem(k) ?? labelValueProblem(v);
        if (problem) throw new InvalidValue(expected, problem, item);
        labels[k] = v;
      }
      return labels;
    },
    encode: (v) => Object.entries(v).map(([k, val]) => `${k}=${val}`),
    json: (v) => Object.entries(v).map(([k, val]) => `${k}=${val}`),
  };
}

export function timeFlag(help: string, def: string): FlagSpec<TimeOfDay> {
  return {
    kind: "timeOfDay",
    help,
    default: parseTimeOfDay(def),
    decode: (raw) => parseTimeOfDay(single(raw)),
    encode: (v) => formatTimeOfDay(v),
    json: (v) => formatTimeOfDay(v),
  };
}

/** A repeatable `key=value,…` spec flag (`--budget`, `--reboot-window`): each occurrence is one element. */
export function specListFlag<T>(
  help: string,
  parse: (s: string) => T,
  format: (v: T) => string,
): FlagSpec<T[]> {
  return {
    kind: "stringArray",
    help,
    default: [],
    decode(raw) {
      return raw.map((s) => {
        try {
          return parse(s);
        } catch (e) {
          if (e instanceof InvalidValue) throw new InvalidValue(e.expected, e.detail, s);
          throw e;
        }
      });
    },
    encode: (v) => v.map(format),
    json: (v) => v.map(format),
  };
}

// ---------------------------------------------------------------------------------------------------
// Small checks used by string flags.

/** kured's `stripQuotes`: removes one pair of matching surrounding quotes when the string is longer than 2. */
export function stripQuotes(s: string): string {
  if (s.length > 2) {
    const first = s[0];
    if (first === s[s.length - 1] && (first === '"' || first === "'")) return s.slice(1, -1);
  }
  return s;
}

export function nonEmpty(what: string): (s: string) => string {
  return (s) => {
    if (s === "") throw new InvalidValue(what, "empty");
    return s;
  };
}

export function dnsLabel(s: string): string {
  if (!isDnsLabel(s)) {
    throw new InvalidValue("a Kubernetes namespace name (lower-case letters, digits and '-', at most 63)");
  }
  return s;
}

export function dnsSubdomain(s: string): string {
  if (!isDnsSubdomain(s)) {
    throw new InvalidValue("a Kubernetes object name (lower-case letters, digits, '-' and '.')");
  }
  return s;
}

export function labelKey(s: string): string {
  const problem = labelKeyProblem(s);
  if (problem) throw new InvalidValue("a taint key in label key syntax ([prefix/]name)", problem);
  return s;
}

export function annotationKey(s: string): string {
  const problem = labelKeyProblem(s);
  if (problem) throw new InvalidValue("an annotation key ([prefix/]name)", problem);
  return s;
}

export function nodeLabelKey(s: string): string {
  const problem = labelKeyProblem(s);
  if (problem) throw new InvalidValue("a node label key such as topology.kubernetes.io/zone", problem);
  return s;
}

export function httpUrl(s: string, example = "http://prometheus.monitoring:9090"): string {
  if (s === "") return s;
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new InvalidValue(`an http(s) URL such as ${example}`, "not a parsable URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidValue(`an http(s) URL such as ${example}`, `scheme ${url.protocol}`);
  }
  return s;
}
