/**
 * A waiting node's queue entry: a Lease `<ds>-queue-<node>` with the lock's label, so the watch every waiter
 * keeps on the lock's Leases sees the whole queue and no polling is added. It records when the node's reboot
 * became required (its place in line, lib/queue/order.ts), its group, and how many nodes that group has (so
 * that others can resolve the group's percentages without counting its nodes). An entry a node that was next
 * in line did not use is marked passed over by the node that went instead: it no longer holds the line up
 * until its node tries again, which clears the mark and so takes its place back.
 *
 * The pure codec; the lock (lib/lock/queue.ts) does the writes.
 */
import { createHash } from "node:crypto";
import {
  decodeLeaseGroup,
  type Group,
  GROUP_FRAGMENT_LABEL,
  GROUP_KEY_ANNOTATION,
  GROUP_VALUE_ANNOTATION,
  groupKey,
  groupLeaseMetadata,
} from "../budget/mod.ts";
import { isDnsSubdomain } from "../config/names.ts";
import { asRecord, LOCK_LABEL, stringMap } from "./slots.ts";

export const QUEUE_ANNOTATIONS = {
  /** The waiting node (an annotation, not `holderIdentity`: an entry must never look like a held slot). */
  node: "kreboot.dev/node",
  requiredSince: "kreboot.dev/required-since",
  groupNodes: "kreboot.dev/group-nodes",
  passedOverBy: "kreboot.dev/passed-over-by",
} as const;

export interface QueueEntry {
  name: string;
  resourceVersion: string;
  node: string;
  /** When the node's reboot became required, epoch ms: its place in line. */
  requiredSinceMs: number;
  group: Group;
  /** `groupKey(group)`. */
  key: string;
  /** Written for another `--group-label`: not in any current line until its node rewrites it. */
  foreign: boolean;
  /** How many nodes the group had when the node last looked (undefined when it did not need to count). */
  groupNodes?: number;
  /** The node that went instead of this one; set = out of line until this node tries again. */
  passedOverBy?: string;
}

/** What a node writes into its entry. */
export interface EntryFields {
  node: string;
  requiredSinceMs: number;
  group: Group;
  groupLabel: string;
  groupNodes?: number;
}

/** `<ds>-queue-<node>`, or a cut name with a hash when that would be longer than a Lease name may be. */
export function queueEntryName(dsName: string, node: string): string {
  const name = `${dsName}-queue-${node}`;
  if (name.length <= 253) return name;
  const hash = createHash("sha256").update(node, "utf8").digest("hex").slice(0, 10);
  return `${name.slice(0, 253 - 11).replace(/[.-]+$/, "")}-${hash}`;
}

/** An entry as listed or watched, or undefined when it is unreadable (then nobody waits behind it). */
export function decodeQueueEntry(lease: unknown, groupLabel: string): QueueEntry | undefined {
  const obj = asRecord(lease);
  const meta = asRecord(obj.metadata);
  const ann = stringMap(meta.annotations);
  const node = ann[QUEUE_ANNOTATIONS.node];
  const since = Date.parse(ann[QUEUE_ANNOTATIONS.requiredSince] ?? "");
  if (typeof node !== "string" || !isDnsSubdomain(node) || !Number.isFinite(since)) return undefined;
  const { group, foreign } = decodeLeaseGroup(stringMap(meta.labels), ann, groupLabel);
  const entry: QueueEntry = {
    name: typeof meta.name === "string" ? meta.name : "",
    resourceVersion: typeof meta.resourceVersion === "string" ? meta.resourceVersion : "",
    node,
    requiredSinceMs: since,
    group,
    key: groupKey(group),
    foreign,
  };
  const count = Number(ann[QUEUE_ANNOTATIONS.groupNodes]);
  if (ann[QUEUE_ANNOTATIONS.groupNodes] !== undefined && Number.isInteger(count) && count >= 0) {
    entry.groupNodes = count;
  }
  const by = ann[QUEUE_ANNOTATIONS.passedOverBy];
  if (by !== undefined && by !== "") entry.passedOverBy = by;
  return entry;
}

/** Whether `entry` already says what `f` would write (and is in line): then nothing needs writing. */
export function entryCurrent(entry: QueueEntry, f: EntryFields): boolean {
  return !entry.foreign && entry.passedOverBy === undefined && entry.key === groupKey(f.group) &&
    entry.requiredSinceMs === f.requiredSinceMs && entry.groupNodes === f.groupNodes;
}

function entryMetadata(f: EntryFields): {
  labels: Record<string, string | null>;
  annotations: Record<string, string | null>;
} {
  const g = groupLeaseMetadata(f.group, f.groupLabel);
  return {
    labels: { [GROUP_FRAGMENT_LABEL]: g.labels[GROUP_FRAGMENT_LABEL] ?? null },
    annotations: {
      [GROUP_KEY_ANNOTATION]: g.annotations[GROUP_KEY_ANNOTATION] ?? null,
      [GROUP_VALUE_ANNOTATION]: g.annotations[GROUP_VALUE_ANNOTATION] ?? null,
      [QUEUE_ANNOTATIONS.node]: f.node,
      [QUEUE_ANNOTATIONS.requiredSince]: new Date(f.requiredSinceMs).toISOString(),
      [QUEUE_ANNOTATIONS.groupNodes]: f.groupNodes === undefined ? null : String(f.groupNodes),
      [QUEUE_ANNOTATIONS.passedOverBy]: null,
    },
  };
}

function withoutNulls(r: Record<string, string | null>): Record<string, string> {
  return Object.fromEntries(Object.entries(r).filter((e): e is [string, string] => e[1] !== null));
}

/** The body that creates the entry of `f.node`. */
export function newQueueEntry(namespace: string, dsName: string, f: EntryFields): Record<string, unknown> {
  const m = entryMetadata(f);
  return {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: {
      name: queueEntryName(dsName, f.node),
      namespace,
      labels: { [LOCK_LABEL]: dsName, ...withoutNulls(m.labels) },
      annotations: withoutNulls(m.annotations),
    },
    spec: {},
  };
}

/** The merge patch that rewrites an entry read at `resourceVersion` to say `f` (and puts it back in line). */
export function queueEntryPatch(resourceVersion: string, f: EntryFields): Record<string, unknown> {
  return { metadata: { resourceVersion, ...entryMetadata(f) } };
}

/** The merge patch that takes an entry out of line because `by` went instead of its node. */
export function passOverPatch(resourceVersion: string, by: string): Record<string, unknown> {
  return { metadata: { resourceVersion, annotations: { [QUEUE_ANNOTATIONS.passedOverBy]: by } } };
}
