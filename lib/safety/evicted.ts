/**
 * The record of what this node's drain evicted, kept on the slot Lease so that a daemon restarted after the
 * reboot still knows what to wait for (`--wait-for-workloads`, lib/safety/health.ts): the owning
 * ReplicaSets/StatefulSets of evicted pods, and the PodDisruptionBudgets that covered them.
 *
 * The annotation is written by kreboot but lives in an object others can edit, so decoding trusts nothing:
 * bounded size, a version, names checked against Kubernetes' name rules, anything else dropped and reported.
 * Encoding is bounded too (an object's annotations share 256 KiB): refs that do not fit are counted in
 * `dropped` and not waited for, which `kreboot status` can show.
 */
import type * as k8s from "@kubernetes/client-node";
import { type Pdb, pdbsCovering } from "../drain/pdb.ts";
import { isDnsLabel, isDnsSubdomain } from "../config/names.ts";
import { SLOT_ANNOTATIONS } from "../lock/slots.ts";
import { parseAnnotationJson } from "./annotation_json.ts";

/** The slot Lease annotation holding the record. */
export const EVICTED_ANNOTATION = SLOT_ANNOTATIONS.evicted;

export const WORKLOAD_KINDS = ["ReplicaSet", "StatefulSet"] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

export interface WorkloadRef {
  kind: WorkloadKind;
  namespace: string;
  name: string;
}

export interface PdbRef {
  namespace: string;
  name: string;
}

export interface EvictedRecord {
  workloads: WorkloadRef[];
  pdbs: PdbRef[];
  /** Refs that did not fit into the annotation (or were unreadable): not waited for. */
  dropped: number;
}

export const EMPTY_RECORD: EvictedRecord = Object.freeze({ workloads: [], pdbs: [], dropped: 0 });

/** Default bound of the encoded annotation, about a hundred refs. */
export const MAX_RECORD_BYTES = 8 * 1024;
/** What decoding accepts at most: a hostile value larger than this is not even parsed. */
const MAX_DECODE_BYTES = 64 * 1024;
const VERSION = 1;

/**
 * What the drain of `pods` disturbs: the controlling ReplicaSet or StatefulSet of each pod (other owners,
 * such as Jobs or custom controllers, have no replica count to wait for) and every PDB covering one of them.
 */
export function evictedRecordOf(pods: readonly k8s.V1Pod[], pdbs: readonly Pdb[]): EvictedRecord {
  const workloads: WorkloadRef[] = [];
  const covering: PdbRef[] = [];
  for (const pod of pods) {
    const namespace = pod.metadata?.namespace ?? "";
    const owner = pod.metadata?.ownerReferences?.find((o) => o.controller);
    const kind = WORKLOAD_KINDS.find((k) => k === owner?.kind);
    if (owner && kind) workloads.push({ kind, namespace, name: owner.name });
    for (const p of pdbsCovering(pod, pdbs)) {
      covering.push({ namespace: p.metadata?.namespace ?? "", name: p.metadata?.name ?? "" });
    }
  }
  return normalize({ workloads, pdbs: covering, dropped: 0 });
}

/** The annotation value: sorted, de-duplicated, at most `maxBytes` (refs beyond are counted as dropped). */
export function encodeEvicted(record: EvictedRecord, maxBytes = MAX_RECORD_BYTES): string {
  const r = normalize(record);
  const workloads = r.workloads.map((w) => `${w.kind}/${w.namespace}/${w.name}`);
  const pdbs = r.pdbs.map((p) => `${p.namespace}/${p.name}`);
  const encode = (w: string[], p: string[], dropped: number) =>
    JSON.stringify({ v: VERSION, workloads: w, pdbs: p, dropped });
  let keepW = workloads.length;
  let keepP = pdbs.length;
  // Drop from the end, PDBs and workloads in turn, until it fits (the dropped count's digits included).
  while (true) {
    const dropped = r.dropped + (workloads.length - keepW) + (pdbs.length - keepP);
    const text = encode(workloads.slice(0, keepW), pdbs.slice(0, keepP), dropped);
    if (new TextEncoder().encode(text).length <= maxBytes || (keepW === 0 && keepP === 0)) return text;
    if (keepP >= keepW && keepP > 0) keepP--;
    else keepW--;
  }
}

export type DecodedRecord = { record: EvictedRecord; problems: string[] };

/** The record in the annotation; an absent one is empty. Never throws; what it cannot read is a problem. */
export function decodeEvicted(raw: string | undefined): DecodedRecord {
  if (raw === undefined || raw === "") return { record: EMPTY_RECORD, problems: [] };
  const unreadable = (why: string): DecodedRecord => ({
    record: EMPTY_RECORD,
    problems: [`the ${EVICTED_ANNOTATION} annotation is unreadable (${why}); nothing evicted is waited for`],
  });
  const parsed = parseAnnotationJson(raw, VERSION, MAX_DECODE_BYTES);
  if (!parsed.ok) return unreadable(parsed.why);
  const obj = parsed.fields;
  const problems: string[] = [];
  let bad = 0;
  const workloads: WorkloadRef[] = [];
  for (const item of listOf(obj.workloads)) {
    const w = typeof item === "string" ? parseWorkload(item) : undefined;
    if (w) workloads.push(w);
    else bad++;
  }
  const pdbs: PdbRef[] = [];
  for (const item of listOf(obj.pdbs)) {
    const p = typeof item === "string" ? parseNamespaced(item) : undefined;
    if (p) pdbs.push(p);
    else bad++;
  }
  if (bad > 0) {
    problems.push(`${bad} unreadable entr${bad === 1 ? "y" : "ies"} in ${EVICTED_ANNOTATION} ignored`);
  }
  const dropped = typeof obj.dropped === "number" && Number.isSafeInteger(obj.dropped) && obj.dropped >= 0
    ? obj.dropped
    : 0;
  return { record: normalize({ workloads, pdbs, dropped: dropped + bad }), problems };
}

function listOf(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function parseWorkload(s: string): WorkloadRef | undefined {
  const slash = s.indexOf("/");
  const kind = WORKLOAD_KINDS.find((k) => k === s.slice(0, slash));
  const rest = kind ? parseNamespaced(s.slice(slash + 1)) : undefined;
  return kind && rest ? { kind, ...rest } : undefined;
}

function parseNamespaced(s: string): PdbRef | undefined {
  const parts = s.split("/");
  const [namespace, name] = parts;
  if (parts.length !== 2 || namespace === undefined || name === undefined) return undefined;
  return isDnsLabel(namespace) && isDnsSubdomain(name) ? { namespace, name } : undefined;
}

/**
 * Both records in one: a drain resumed after a restart evicts what the first run left, and the health gate
 * must wait for what both runs evicted.
 */
export function mergeEvicted(a: EvictedRecord, b: EvictedRecord): EvictedRecord {
  return normalize({
    workloads: [...a.workloads, ...b.workloads],
    pdbs: [...a.pdbs, ...b.pdbs],
    dropped: a.dropped + b.dropped,
  });
}

/** Sorted and de-duplicated, so equal records encode equally (no needless Lease writes). */
function normalize(r: EvictedRecord): EvictedRecord {
  const uniq = <T>(items: T[], key: (t: T) => string): T[] => {
    const m = new Map(items.map((t) => [key(t), t]));
    return [...m.keys()].sort().map((k) => m.get(k) as T);
  };
  return {
    workloads: uniq(r.workloads, (w) => `${w.kind}/${w.namespace}/${w.name}`),
    pdbs: uniq(r.pdbs, (p) => `${p.namespace}/${p.name}`),
    dropped: r.dropped,
  };
}
