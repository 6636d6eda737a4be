/**
 * One flag of the table: `flag("key", "name", spec)` binds a `Config` field to its kebab-case name, its
 * environment variables and the parser, formatter and JSON form of its kind (lib/config/kinds.ts).
 */
import type { Config } from "./config.ts";
import type { FlagKind, FlagSpec, JsonValue } from "./kinds.ts";
import { SAFETY_FLAGS, type SafetySettings } from "./safety_flags.ts";

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

export function flag<K extends keyof Config>(
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
export function safetyFlag<K extends keyof SafetySettings>(key: K): Flag {
  const { name, spec } = SAFETY_FLAGS[key];
  return flag(key, name, spec as FlagSpec<Config[K]>, { group: "kreboot" });
}
