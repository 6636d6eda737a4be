/**
 * `--budget SPEC`, repeatable: `nodes=N` or `nodes=P%`, optionally `group=VALUE`, optionally
 * `schedule=CRON,duration=DUR[,tz=ZONE]` — Karpenter's NodePool disruption budget
 * (https://karpenter.sh/docs/concepts/disruption/#nodepool-disruption-budgets) for in-place reboots, with
 * a time zone. Examples:
 *
 *   nodes=0,schedule=0 8 * * mon-fri,duration=10h,tz=Europe/Berlin    no reboots in Berlin office hours
 *   nodes=30%,group=batch                                               at most 30% of group "batch"
 */
import { InvalidValue } from "../config/errors.ts";
import { labelValueProblem } from "../config/selector.ts";
import { formatGoDuration } from "../config/duration.ts";
import { splitSpec, windowFrom } from "../cron_windows/spec.ts";
import type { AnchoredWindow } from "../cron_windows/anchored.ts";

/** A number of nodes, or a percentage of a group's nodes. */
export type Limit = { kind: "count"; n: number } | { kind: "percent"; percent: number };

export interface Budget {
  nodes: Limit;
  /** The group it applies to; undefined = every group; "" = the nodes without the `--group-label` label. */
  group?: string;
  /** When it applies; undefined = always. */
  window?: AnchoredWindow;
}

const EXPECTED = "nodes=N or nodes=P%[,group=VALUE][,schedule=CRON,duration=DURATION[,tz=ZONE]]";

/** One `--budget` value. Throws `InvalidValue` saying which part is wrong. */
export function parseBudgetSpec(spec: string): Budget {
  const items = splitSpec(spec, ["nodes", "group", "schedule", "duration", "tz"], EXPECTED);
  const nodes = items.get("nodes");
  if (nodes === undefined) throw new InvalidValue(EXPECTED, "nodes= is missing");
  const budget: Budget = { nodes: parseLimit(nodes) };
  const group = items.get("group");
  if (group !== undefined) {
    const problem = group === "" ? undefined : labelValueProblem(group);
    if (problem) throw new InvalidValue(EXPECTED, `group=${group}: not a label value: ${problem}`);
    budget.group = group;
  }
  const schedule = items.get("schedule");
  if (schedule === undefined) {
    for (const key of ["duration", "tz"]) {
      if (items.has(key)) throw new InvalidValue(EXPECTED, `${key}= needs schedule=`);
    }
    return budget;
  }
  budget.window = windowFrom(schedule, items.get("duration"), items.get("tz"), EXPECTED, "schedule");
  return budget;
}

function parseLimit(s: string): Limit {
  const pct = /^(\d{1,3})%$/.exec(s);
  if (pct) {
    const percent = Number(pct[1]);
    if (percent > 100) throw new InvalidValue(EXPECTED, `nodes=${s}: a percentage from 0% to 100%`);
    return { kind: "percent", percent };
  }
  if (!/^\d{1,9}$/.test(s)) {
    throw new InvalidValue(EXPECTED, `nodes=${s}: a whole number of nodes (0 or more) or a percentage`);
  }
  return { kind: "count", n: Number(s) };
}

export function formatLimit(l: Limit): string {
  return l.kind === "count" ? String(l.n) : `${l.percent}%`;
}

/** The canonical `--budget` value of `b`, which `parseBudgetSpec` reads back. */
export function formatBudgetSpec(b: Budget): string {
  const parts = [`nodes=${formatLimit(b.nodes)}`];
  if (b.group !== undefined) parts.push(`group=${b.group}`);
  if (b.window) {
    const { schedule, durationMs } = b.window;
    parts.push(
      `schedule=${schedule.pattern}`,
      `duration=${formatGoDuration(durationMs)}`,
      `tz=${schedule.timeZone}`,
    );
  }
  return parts.join(",");
}
