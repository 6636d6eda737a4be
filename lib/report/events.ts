/**
 * Kubernetes Events about the Node (`events.k8s.io/v1`, namespace `default` as the kubelet's), so that
 * `kubectl describe node` and `kubectl events` tell the reboot story. A repeated event (same reason and
 * message) is not created again: the first one's `series` is patched, at most once per interval, as the
 * apiserver's own event recorder does. Failures are logged and never thrown: an Event is never worth a
 * delayed reboot.
 */
import type * as k8s from "@kubernetes/client-node";
import { describeApiError, dryRunParam, isNotFound, type Kube, MERGE_PATCH, microTime } from "../kube/mod.ts";
import type { Logger } from "../log.ts";
import type { EventType } from "../machine/mod.ts";

export const EVENT_NAMESPACE = "default";
export const REPORTING_CONTROLLER = "kreboot.dev/kreboot";
/** The apiserver's note limit is 1 kB. */
const MAX_NOTE_BYTES = 1024;
/** Events expire after the apiserver's --event-ttl (1 h by default); older memories start a new event. */
const STALE_MS = 50 * 60_000;
const MAX_REMEMBERED = 64;

export interface EventMemo {
  /** The Event's name in the API. */
  name: string;
  /** Occurrences so far, written or not. */
  count: number;
  /** The count the API has. */
  written: number;
  /** When the Event was created or last patched (ms). */
  lastWrite: number;
}

export type EventStep = { kind: "create" } | { kind: "patch"; count: number } | {
  kind: "hold";
  count: number;
};

/**
 * What to do with one more occurrence of an event: create it (first time, or the old one may have expired),
 * patch its series (at most once per `minIntervalMs`), or only count it in memory.
 */
export function eventStep(prev: EventMemo | undefined, now: number, minIntervalMs: number): EventStep {
  if (!prev || now - prev.lastWrite >= STALE_MS) return { kind: "create" };
  const count = prev.count + 1;
  return now - prev.lastWrite >= minIntervalMs ? { kind: "patch", count } : { kind: "hold", count };
}

/** The kubelet's naming: `<node>.<hex nanoseconds>`; unique enough, and sorted by time. */
export function eventName(node: string, nowMs: number): string {
  const nanos = BigInt(nowMs) * 1_000_000n + BigInt(Math.floor(Math.random() * 1_000_000));
  return `${node}.${nanos.toString(16)}`;
}

/** A MicroTime as a JSON string (patch bodies do not pass through the client's serializer). */
export function microTimeString(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** Cuts a note to the apiserver's byte limit without splitting a character. */
export function clampNote(s: string): string {
  const enc = new TextEncoder();
  if (enc.encode(s).length <= MAX_NOTE_BYTES) return s;
  let out = s.slice(0, MAX_NOTE_BYTES);
  while (enc.encode(`${out}…`).length > MAX_NOTE_BYTES) out = out.slice(0, -1);
  return `${out}…`;
}

export interface NodeEvent {
  reason: string;
  message: string;
  type: EventType;
  /** The phase the node is in; Events call it the action. */
  action: string;
}

export interface EventTarget {
  node: string;
  /** The Node's uid; kubectl describe node finds events by it (or by the node name). */
  uid?: string;
}

export function eventBody(t: EventTarget, e: NodeEvent, name: string, now: Date): k8s.EventsV1Event {
  const regarding: k8s.V1ObjectReference = { apiVersion: "v1", kind: "Node", name: t.node };
  if (t.uid) regarding.uid = t.uid;
  return {
    apiVersion: "events.k8s.io/v1",
    kind: "Event",
    metadata: { name, namespace: EVENT_NAMESPACE },
    eventTime: microTime(now),
    reportingController: REPORTING_CONTROLLER,
    reportingInstance: t.node,
    action: e.action,
    reason: e.reason,
    note: clampNote(e.message),
    type: e.type,
    regarding,
  };
}

export function seriesPatch(
  count: number,
  now: Date,
): { series: { count: number; lastObservedTime: string } } {
  return { series: { count, lastObservedTime: microTimeString(now) } };
}

export interface EventRecorderOptions {
  node: string;
  log: Logger;
  /** At most one write per reason+message in this interval; default 60 s. */
  minIntervalMs?: number;
  now?: () => Date;
}

export class EventRecorder {
  #kube: Kube;
  #o: EventRecorderOptions;
  #uid: string | undefined;
  #memo = new Map<string, EventMemo>();

  constructor(kube: Kube, opts: EventRecorderOptions) {
    this.#kube = kube;
    this.#o = opts;
  }

  set uid(uid: string | undefined) {
    this.#uid = uid;
  }

  #now(): Date {
    return this.#o.now?.() ?? new Date();
  }

  /** Creates or aggregates the event. Never throws. */
  async record(e: NodeEvent): Promise<void> {
    const key = `${e.reason}\n${e.message}`;
    const now = this.#now();
    const prev = this.#memo.get(key);
    const step = eventStep(prev, now.getTime(), this.#o.minIntervalMs ?? 60_000);
    if (step.kind === "hold" && prev) {
      prev.count = step.count;
      return;
    }
    if (step.kind === "patch" && prev) {
      prev.count = step.count;
      if (await this.#patch(prev, now)) return;
    }
    await this.#create(key, e, now);
  }

  /** Writes the counts of repeated events that were only held in memory (at shutdown). */
  async flush(): Promise<void> {
    const now = this.#now();
    for (const m of this.#memo.values()) {
      if (m.count > m.written && now.getTime() - m.lastWrite < STALE_MS) await this.#patch(m, now);
    }
  }

  async #create(key: string, e: NodeEvent, now: Date): Promise<void> {
    const name = eventName(this.#o.node, now.getTime());
    const target: EventTarget = this.#uid ? { node: this.#o.node, uid: this.#uid } : { node: this.#o.node };
    try {
      await this.#kube.events.createNamespacedEvent({
        namespace: EVENT_NAMESPACE,
        body: eventBody(target, e, name, now),
        ...dryRunParam(this.#kube),
      });
      this.#remember(key, { name, count: 1, written: 1, lastWrite: now.getTime() });
    } catch (err) {
      this.#o.log.warn("could not create an Event on the node", {
        reason: e.reason,
        error: describeApiError(err),
      });
    }
  }

  /** Patches the series; false when the Event is gone (expired) and a new one should be created. */
  async #patch(m: EventMemo, now: Date): Promise<boolean> {
    try {
      if (!this.#kube.dryRun) {
        await this.#kube.events.patchNamespacedEvent(
          { namespace: EVENT_NAMESPACE, name: m.name, body: seriesPatch(m.count, now) },
          MERGE_PATCH,
        );
      }
      m.written = m.count;
      m.lastWrite = now.getTime();
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      this.#o.log.warn("could not update a repeated Event", { event: m.name, error: describeApiError(err) });
      return true;
    }
  }

  #remember(key: string, m: EventMemo): void {
    this.#memo.delete(key);
    this.#memo.set(key, m);
    // Maps iterate in insertion order: the first key is the least recently created.
    while (this.#memo.size > MAX_REMEMBERED) {
      const oldest = this.#memo.keys().next().value;
      if (oldest === undefined) break;
      this.#memo.delete(oldest);
    }
  }
}
