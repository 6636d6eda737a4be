/**
 * The pure half of the reboot lock: how a slot Lease is read, judged and written. No I/O here, so every rule
 * about who may take a slot is unit-tested without a cluster.
 */
import type { Concurrency } from "../config/mod.ts";
import { isDnsSubdomain } from "../config/names.ts";

/** Label that marks kreboot's Leases, valued with the DaemonSet name, so one LIST or watch finds them all. */
export const LOCK_LABEL = "kreboot.dev/lock";

/** Annotations kreboot keeps on a slot Lease: the holder's state that must survive a crash. */
export const SLOT_ANNOTATIONS = {
  phase: "kreboot.dev/phase",
  bootId: "kreboot.dev/boot-id",
  wasUnschedulable: "kreboot.dev/was-unschedulable",
  releaseAfter: "kreboot.dev/release-after",
  /** What the holder's drain evicted, for the post-reboot health gate (decoded by lib/safety/evicted.ts). */
  evicted: "kreboot.dev/evicted",
  pauseReason: "kreboot.dev/pause-reason",
} as const;

/** `--concurrency`, as the flag table parses it. */
export type { Concurrency };

/** Slot i of the lock named after the DaemonSet. */
export function slotName(dsName: string, index: number): string {
  return `${dsName}-slot-${index}`;
}

export function pauseLeaseName(dsName: string): string {
  return `${dsName}-pause`;
}

/** The slot index encoded in a Lease name, or undefined when the name is not one of ours. */
export function slotIndex(dsName: string, leaseName: string): number | undefined {
  const prefix = `${dsName}-slot-`;
  if (!leaseName.startsWith(prefix)) return undefined;
  const rest = leaseName.slice(prefix.length);
  return /^(0|[1-9][0-9]{0,4})$/.test(rest) ? Number(rest) : undefined;
}

/**
 * N for `--concurrency`: a count as given, or a percentage of the nodes that run the daemon, rounded down and
 * at least 1 (so a small cluster still makes progress).
 */
export function resolveConcurrency(c: Concurrency, daemonNodes: number): number {
  if (c.kind === "count") return Math.max(1, Math.floor(c.n));
  return Math.max(1, Math.floor((daemonNodes * c.percent) / 100));
}

/** A slot Lease as kreboot understands it. Anything unreadable is dropped and listed in `problems`. */
export interface SlotRecord {
  name: string;
  resourceVersion: string;
  /** Empty when the slot is free. */
  holder: string;
  acquireTime?: Date;
  renewTime?: Date;
  leaseDurationSeconds?: number;
  transitions: number;
  phase?: string;
  bootId?: string;
  /** Undefined when not recorded or unreadable: the caller must then not assume it may uncordon. */
  wasUnschedulable?: boolean;
  releaseAfter?: Date;
  /** The raw record of what the holder's drain evicted (lib/safety/evicted.ts decodes it, trusting nothing). */
  evicted?: string;
  problems: string[];
}

/** `v` as a plain object, or an empty one: what a Lease from the wire may hold is never trusted. */
export function asRecord(v: unknown): Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : {};
}

/** The string values of a labels or annotations map as read from the wire (anything else is dropped). */
export function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, s] of Object.entries(asRecord(v))) if (typeof s === "string") out[k] = s;
  return out;
}

function asTime(v: unknown): Date | undefined {
  const d = v instanceof Date ? v : typeof v === "string" ? new Date(v) : undefined;
  return d && Number.isFinite(d.getTime()) ? d : undefined;
}

/**
 * Decodes a Lease (as client-node returns it, or raw JSON from a watch) into a SlotRecord. Garbage in the
 * holder fields is never trusted: a holder that is not a valid node name makes the slot free, and the
 * problems are reported so the lock can repair the Lease.
 */
export function decodeSlot(lease: unknown): SlotRecord {
  const obj = asRecord(lease);
  const meta = asRecord(obj.metadata);
  const spec = asRecord(obj.spec);
  const ann = asRecord(meta.annotations);
  const problems: string[] = [];
  const name = typeof meta.name === "string" ? meta.name : "";
  const resourceVersion = typeof meta.resourceVersion === "string" ? meta.resourceVersion : "";
  let holder = typeof spec.holderIdentity === "string" ? spec.holderIdentity : "";
  if (
    spec.holderIdentity !== undefined && spec.holderIdentity !== null &&
    typeof spec.holderIdentity !== "string"
  ) {
    problems.push("holderIdentity is not a string");
  }
  if (holder !== "" && !isDnsSubdomain(holder)) {
    problems.push(`holderIdentity ${JSON.stringify(holder.slice(0, 80))} is not a node name`);
    holder = "";
  }
  const record: SlotRecord = {
    name,
    resourceVersion,
    holder,
    transitions: typeof spec.leaseTransitions === "number" ? spec.leaseTransitions : 0,
    problems,
  };
  const acquireTime = asTime(spec.acquireTime);
  if (acquireTime) record.acquireTime = acquireTime;
  const renewTime = asTime(spec.renewTime);
  if (renewTime) record.renewTime = renewTime;
  const lds = spec.leaseDurationSeconds;
  if (typeof lds === "number" && Number.isInteger(lds) && lds > 0) record.leaseDurationSeconds = lds;
  if (holder === "") return record;

  const phase = ann[SLOT_ANNOTATIONS.phase];
  if (typeof phase === "string" && /^[a-z-]{1,40}$/.test(phase)) record.phase = phase;
  else if (phase !== undefined) problems.push("phase annotation is unreadable");
  const bootId = ann[SLOT_ANNOTATIONS.bootId];
  if (typeof bootId === "string" && bootId !== "" && bootId.length <= 128) record.bootId = bootId;
  else if (bootId !== undefined) problems.push("boot-id annotation is unreadable");
  const was = ann[SLOT_ANNOTATIONS.wasUnschedulable];
  if (was === "true" || was === "false") record.wasUnschedulable = was === "true";
  else if (was !== undefined) problems.push("was-unschedulable annotation is unreadable");
  const releaseAfter = ann[SLOT_ANNOTATIONS.releaseAfter];
  if (releaseAfter !== undefined) {
    const t = asTime(releaseAfter);
    if (t) record.releaseAfter = t;
    else problems.push("release-after annotation is unreadable");
  }
  const evicted = ann[SLOT_ANNOTATIONS.evicted];
  if (typeof evicted === "string" && evicted !== "") record.evicted = evicted;
  return record;
}

export type SlotVerdict =
  | { kind: "free" }
  | { kind: "mine" }
  | { kind: "held"; holder: string; expiresInMs?: number }
  | { kind: "expired"; holder: string; silentMs: number }
  | { kind: "orphaned"; holder: string };

export interface JudgeContext {
  me: string;
  /** Local clock, ms. */
  now: number;
  /** Local time at which this observer last saw the record change (resourceVersion), ms. */
  observedAt: number;
  /** `--lock-ttl` in ms; 0 = no expiry. The Lease's own leaseDurationSeconds wins when set. */
  ttlMs: number;
  /** Whether the holder's Node object exists; undefined when not looked up (yet). */
  holderExists?: boolean;
}

/**
 * Who may use a slot, judged as client-go leader election does: expiry counts from when *this observer* last
 * saw the record change, never from the timestamps inside it, so clock skew between nodes cannot steal a
 * lock. A holder whose Node object is gone frees the slot at once, whatever the TTL; a NotReady holder keeps
 * it (a bad update should stop the rollout, not spread it).
 */
export function judgeSlot(slot: SlotRecord | undefined, ctx: JudgeContext): SlotVerdict {
  if (!slot || slot.holder === "") return { kind: "free" };
  if (slot.holder === ctx.me) return { kind: "mine" };
  if (ctx.holderExists === false) return { kind: "orphaned", holder: slot.holder };
  const ttlMs = slot.leaseDurationSeconds !== undefined ? slot.leaseDurationSeconds * 1000 : ctx.ttlMs;
  if (ttlMs <= 0) return { kind: "held", holder: slot.holder };
  const silentMs = ctx.now - ctx.observedAt;
  if (silentMs >= ttlMs) return { kind: "expired", holder: slot.holder, silentMs };
  return { kind: "held", holder: slot.holder, expiresInMs: ttlMs - silentMs };
}

export interface HolderFields {
  holder: string;
  phase: string;
  bootId?: string;
  wasUnschedulable?: boolean;
  leaseDurationSeconds?: number;
  transitions: number;
  now: Date;
}

/** Six fractional digits, as the apiserver's MicroTime parser demands. */
export function microTimeString(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/**
 * The merge patch that makes `holder` the holder of a slot read at `resourceVersion`. Carrying the
 * resourceVersion turns the patch into a compare-and-swap: a racing writer gets 409.
 */
export function acquirePatch(resourceVersion: string, f: HolderFields): Record<string, unknown> {
  return {
    metadata: {
      resourceVersion,
      annotations: {
        [SLOT_ANNOTATIONS.phase]: f.phase,
        [SLOT_ANNOTATIONS.bootId]: f.bootId ?? null,
        [SLOT_ANNOTATIONS.wasUnschedulable]: f.wasUnschedulable === undefined
          ? null
          : String(f.wasUnschedulable),
        [SLOT_ANNOTATIONS.releaseAfter]: null,
        [SLOT_ANNOTATIONS.evicted]: null,
      },
    },
    spec: {
      holderIdentity: f.holder,
      acquireTime: microTimeString(f.now),
      renewTime: microTimeString(f.now),
      leaseDurationSeconds: f.leaseDurationSeconds ?? null,
      leaseTransitions: f.transitions + 1,
    },
  };
}

/** The body that creates slot `name` already held by `holder`. */
export function newSlotLease(
  namespace: string,
  dsName: string,
  name: string,
  f: HolderFields,
): Record<string, unknown> {
  const patch = acquirePatch("", f);
  const annotations = Object.fromEntries(
    Object.entries(asRecord(asRecord(patch.metadata).annotations)).filter(([, v]) => v !== null),
  );
  const spec = Object.fromEntries(Object.entries(asRecord(patch.spec)).filter(([, v]) => v !== null));
  return {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { name, namespace, labels: { [LOCK_LABEL]: dsName }, annotations },
    spec: { ...spec, leaseTransitions: 0 },
  };
}

/** The merge patch that frees a slot: no holder, none of the holder's annotations. */
export function releasePatch(resourceVersion: string): Record<string, unknown> {
  return {
    metadata: {
      resourceVersion,
      annotations: Object.fromEntries(
        [
          SLOT_ANNOTATIONS.phase,
          SLOT_ANNOTATIONS.bootId,
          SLOT_ANNOTATIONS.wasUnschedulable,
          SLOT_ANNOTATIONS.releaseAfter,
          SLOT_ANNOTATIONS.evicted,
        ]
          .map((k) => [k, null]),
      ),
    },
    spec: { holderIdentity: null, leaseDurationSeconds: null, acquireTime: null, renewTime: null },
  };
}
