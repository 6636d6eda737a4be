/**
 * THE flag table: every flag kreboot accepts, once. Help text, environment binding, parsing, validation,
 * `kreboot config` JSON, `configToArgs` and the README's flag table are all derived from `FLAGS`.
 *
 * To add a flag: add its field to `Config` (config.ts), then one `flag("key", …)` entry in kured_flags.ts or
 * kreboot_flags.ts (kreboot's own). The builders in lib/config/kinds.ts (`stringFlag`, `durationFlag`, …)
 * give each kind its parser, formatter and JSON form; pass `check` for extra validation.
 */

import type { FlagKind, FlagSpec, JsonValue } from "./kinds.ts";
import type { LogFormat } from "../log.ts";
import type { Flag } from "./flag.ts";
import { KURED_FLAGS } from "./kured_flags.ts";
import { KREBOOT_FLAGS } from "./kreboot_flags.ts";

export type { Concurrency, Config, RebootMethod } from "./config.ts";
export type { Flag, FlagGroup } from "./flag.ts";
export type { FlagKind, FlagSpec, JsonValue, LogFormat };

// Order = help order = README order. kured's help texts are kept where they were accurate.
export const FLAGS: readonly Flag[] = [...KURED_FLAGS, ...KREBOOT_FLAGS];
