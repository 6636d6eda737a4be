/**
 * Node groups (`--group-label KEY`): nodes with different values of the label lock independently, each
 * group with its own slot Leases. Label values may be up to 63 characters of `[A-Za-z0-9._-]`, so a Lease
 * name cannot simply embed them: a group's Leases carry a *fragment* (a sanitized, cut prefix of the value
 * plus a hash of key and value — always a valid DNS label and label value) and record the real key and
 * value in annotations. This file is the one place that maps a group to names and back.
 *
 * Without `--group-label` every node is in the one group `all`, whose Leases keep today's names
 * `<ds-name>-slot-<i>`.
 */
import { createHash } from "node:crypto";

/**
 * A node's group: `all` when `--group-label` is not set; `unlabeled` for nodes without the label (or
 * with an empty value); otherwise the label's value.
 */
export type Group = { kind: "all" } | { kind: "unlabeled" } | { kind: "value"; value: string };

export const ALL: Group = Object.freeze({ kind: "all" });

/** Label on a group's slot Leases: the group's fragment, so one selector lists one group. */
export const GROUP_FRAGMENT_LABEL = "kreboot.dev/group";
/** Annotation on a group's slot Leases: the `--group-label` key the group was formed by. */
export const GROUP_KEY_ANNOTATION = "kreboot.dev/group-label";
/** Annotation on a group's slot Leases: the label's value; absent for the nodes without the label. */
export const GROUP_VALUE_ANNOTATION = "kreboot.dev/group-value";

/** Longest Lease name suffix a group adds to the DaemonSet name: `-g-` + fragment (≤ 31) + `-slot-99999`. */
export const GROUP_NAME_OVERHEAD = 3 + 31 + 11;

/** The group of a node with `labels`, for `--group-label` `groupLabel` ("" = not set). */
export function groupOf(labels: Readonly<Record<string, string>> | undefined, groupLabel: string): Group {
  if (groupLabel === "") return ALL;
  const value = labels?.[groupLabel];
  return value === undefined || value === "" ? { kind: "unlabeled" } : { kind: "value", value };
}

/** A string that identifies the group, for maps and logs: `all`, `(no label)` or `=VALUE`. */
export function groupKey(g: Group): string {
  return g.kind === "all" ? "all" : g.kind === "unlabeled" ? "(no label)" : `=${g.value}`;
}

/** How people see the group: `all nodes`, `nodes without <key>` or `<key>=<value>`. */
export function describeGroup(g: Group, groupLabel: string): string {
  return g.kind === "all"
    ? "all nodes"
    : g.kind === "unlabeled"
    ? `nodes without ${groupLabel}`
    : `${groupLabel}=${g.value}`;
}

/**
 * The group → Lease-name fragment codec. `all` has none (today's names). The others: a DNS label of at
 * most 31 characters, distinct per (key, value): `nolabel-<hash>` for the unlabeled group, else the value
 * lower-cased with every run of other characters turned into `-`, cut to 20, then `-<hash>` (the hash alone
 * when nothing is left). The hash is the first 10 hex digits of SHA-256 over the JSON of key and value
 * (lossless for any string), so changing `--group-label` never reuses another key's Leases.
 */
export function groupFragment(g: Group, groupLabel: string): string | undefined {
  if (g.kind === "all") return undefined;
  if (g.kind === "unlabeled") return `nolabel-${hash10(JSON.stringify([groupLabel]))}`;
  const prefix = g.value.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+/, "").slice(0, 20)
    .replace(/-+$/, "");
  const h = hash10(JSON.stringify([groupLabel, g.value]));
  return prefix === "" ? h : `${prefix}-${h}`;
}

function hash10(s: string): string {
  return createHash("sha256").update(s, "utf8").digest("hex").slice(0, 10);
}

/** The common start of a group's slot Lease names. */
export function slotLeasePrefix(dsName: string, g: Group, groupLabel: string): string {
  const fragment = groupFragment(g, groupLabel);
  return fragment === undefined ? `${dsName}-slot-` : `${dsName}-g-${fragment}-slot-`;
}

/** Slot `index` of group `g`: `<ds>-slot-<i>` for `all` (today's names), else `<ds>-g-<fragment>-slot-<i>`. */
export function slotLeaseName(dsName: string, g: Group, groupLabel: string, index: number): string {
  return `${slotLeasePrefix(dsName, g, groupLabel)}${index}`;
}

/** The slot index in `leaseName` when it is one of group `g`'s slot Leases. */
export function groupSlotIndex(
  dsName: string,
  g: Group,
  groupLabel: string,
  leaseName: string,
): number | undefined {
  const prefix = slotLeasePrefix(dsName, g, groupLabel);
  if (!leaseName.startsWith(prefix)) return undefined;
  const rest = leaseName.slice(prefix.length);
  return /^(0|[1-9][0-9]{0,4})$/.test(rest) ? Number(rest) : undefined;
}

/** Labels and annotations that a group's slot Lease carries besides the lock's own (none for `all`). */
export function groupLeaseMetadata(
  g: Group,
  groupLabel: string,
): { labels: Record<string, string>; annotations: Record<string, string> } {
  const fragment = groupFragment(g, groupLabel);
  if (fragment === undefined) return { labels: {}, annotations: {} };
  const annotations: Record<string, string> = { [GROUP_KEY_ANNOTATION]: groupLabel };
  if (g.kind === "value") annotations[GROUP_VALUE_ANNOTATION] = g.value;
  return { labels: { [GROUP_FRAGMENT_LABEL]: fragment }, annotations };
}

/**
 * The group a slot Lease belongs to, from its labels and annotations, judged for the current
 * `--group-label`. `foreign` is true when the Lease was written for another `--group-label` (or without
 * one while one is set now, or the reverse), or its records disagree: its holder still counts, but the
 * Lease belongs to no current group.
 */
export function decodeLeaseGroup(
  labels: Readonly<Record<string, string>> | undefined,
  annotations: Readonly<Record<string, string>> | undefined,
  groupLabel: string,
): { group: Group; foreign: boolean } {
  const fragment = labels?.[GROUP_FRAGMENT_LABEL];
  if (fragment === undefined) return { group: ALL, foreign: groupLabel !== "" };
  const key = annotations?.[GROUP_KEY_ANNOTATION];
  const value = annotations?.[GROUP_VALUE_ANNOTATION];
  const group: Group = value === undefined || value === "" ? { kind: "unlabeled" } : { kind: "value", value };
  const consistent = key !== undefined && groupFragment(group, key) === fragment;
  return { group, foreign: !consistent || key !== groupLabel };
}
