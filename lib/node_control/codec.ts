/**
 * Per-node control by operators, through two node annotations — the one place that reads and writes them:
 *
 * - `kreboot.dev/hold`: the node never takes a slot while it is there. Value: JSON
 *   `{"by":"…","reason":"…","since":"<RFC 3339>"}`. An unreadable value still holds the node: it is
 *   someone's deliberate stop sign, and a hold that fails open would reboot a node someone protected.
 * - `kreboot.dev/reboot-requested`: the node needs a reboot although its sentinel does not say so. Value:
 *   JSON `{"by":"…","since":"…","bootId":"…","reason":"…"}`. `bootId` is the node's boot ID when the
 *   request was made, so the request is satisfied by the first reboot after it, even if clearing the
 *   annotation afterwards fails: it can never cause a second reboot. An unreadable value requests nothing
 *   (a reboot is the disruptive default) and is reported as a problem.
 */

export const HOLD_ANNOTATION = "kreboot.dev/hold";
export const REQUEST_ANNOTATION = "kreboot.dev/reboot-requested";

export interface Hold {
  by: string;
  reason: string;
  /** RFC 3339. */
  since: string;
}

export interface RebootRequest {
  by: string;
  /** RFC 3339. */
  since: string;
  /** The node's `status.nodeInfo.bootID` when requested; absent when it had none. */
  bootId?: string;
  reason?: string;
}

/** The parts of a Node this file reads (a `V1Node` fits). */
export interface NodeLike {
  metadata?: { name?: string; annotations?: Record<string, string> };
  status?: { nodeInfo?: { bootID?: string } };
}

/** What a decoder found: a value, or a problem with the annotation (never both). */
export type Decoded<T> = { value: T; problem?: undefined } | { value?: undefined; problem: string };

/** Longest `by` and `reason` kept: they end up in status lines, Events and the node condition. */
const MAX_TEXT = 300;

function text(v: unknown): string | undefined {
  return typeof v === "string" ? v.slice(0, MAX_TEXT) : undefined;
}

function parseObject(raw: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(raw);
    return typeof v === "object" && v !== null && !Array.isArray(v)
      ? v as Record<string, unknown>
      : undefined;
  } catch {
    return undefined;
  }
}

export function encodeHold(h: Hold): string {
  return JSON.stringify({ by: h.by, reason: h.reason, since: h.since });
}

/** The hold recorded in `raw`; undefined when there is none. Unreadable = held by "unknown". */
export function decodeHold(raw: string | undefined): Hold | undefined {
  if (raw === undefined) return undefined;
  const o = parseObject(raw);
  const by = text(o?.by);
  const reason = text(o?.reason);
  const since = text(o?.since) ?? "";
  if (by === undefined || reason === undefined) {
    return {
      by: "unknown",
      reason: `unreadable ${HOLD_ANNOTATION} annotation ${JSON.stringify(raw.slice(0, 80))}`,
      since,
    };
  }
  return { by, reason, since };
}

export function encodeRequest(r: RebootRequest): string {
  const out: Record<string, string> = { by: r.by, since: r.since };
  if (r.bootId !== undefined) out.bootId = r.bootId;
  if (r.reason !== undefined) out.reason = r.reason;
  return JSON.stringify(out);
}

export function decodeRequest(raw: string | undefined): Decoded<RebootRequest> | undefined {
  if (raw === undefined) return undefined;
  const o = parseObject(raw);
  const by = text(o?.by);
  const since = text(o?.since);
  if (o === undefined || by === undefined || since === undefined) {
    return { problem: `unreadable ${REQUEST_ANNOTATION} annotation ${JSON.stringify(raw.slice(0, 80))}` };
  }
  const r: RebootRequest = { by, since };
  const bootId = text(o.bootId);
  if (bootId !== undefined && bootId !== "") r.bootId = bootId;
  const reason = text(o.reason);
  if (reason !== undefined && reason !== "") r.reason = reason;
  return { value: r };
}

function annotation(node: NodeLike, key: string): string | undefined {
  return node.metadata?.annotations?.[key];
}

/** The node's hold, if held. */
export function holdOf(node: NodeLike): Hold | undefined {
  return decodeHold(annotation(node, HOLD_ANNOTATION));
}

/** A held node never takes a slot. */
export function isHeld(node: NodeLike): boolean {
  return annotation(node, HOLD_ANNOTATION) !== undefined;
}

/** The node's reboot request, as recorded (satisfied or not), or the problem reading it. */
export function requestOf(node: NodeLike): Decoded<RebootRequest> | undefined {
  return decodeRequest(annotation(node, REQUEST_ANNOTATION));
}

/**
 * Whether the node must reboot because someone asked: a readable request made during the node's current
 * boot (its recorded boot ID is the node's current one, or none was recorded).
 */
export function rebootRequested(node: NodeLike): boolean {
  const r = requestOf(node)?.value;
  if (r === undefined) return false;
  const current = node.status?.nodeInfo?.bootID;
  return r.bootId === undefined || current === undefined || current === "" || r.bootId === current;
}

/**
 * Whether the node carries a request that a reboot has already satisfied (the boot ID moved on): the daemon
 * clears it with `clearRequestPatch`.
 */
export function requestSatisfied(node: NodeLike): boolean {
  const r = requestOf(node)?.value;
  const current = node.status?.nodeInfo?.bootID;
  return r?.bootId !== undefined && current !== undefined && current !== "" && r.bootId !== current;
}

/**
 * The request to remove once the node has rebooted (kreboot calls it after a confirmed reboot), as its raw
 * annotation value for `clearRequestPatch`: one the reboot satisfied (`requestSatisfied`), or one recorded
 * without a boot ID, which only the reboot just confirmed can answer. Undefined when there is nothing to
 * remove: no request, an unreadable one (left for a human), or one made during the current boot.
 */
export function requestToClearAfterReboot(node: NodeLike): string | undefined {
  const r = requestOf(node)?.value;
  if (r === undefined) return undefined;
  return requestSatisfied(node) || r.bootId === undefined ? annotation(node, REQUEST_ANNOTATION) : undefined;
}

/** "alice since 2026-11-23T10:00:00Z: debugging the NIC", for status lines, the condition and logs. */
export function describeHold(h: Hold): string {
  return `${h.by}${h.since ? ` since ${h.since}` : ""}: ${h.reason}`;
}

/** "bob: kernel parameter change", or just "bob" without a reason. */
export function describeRequest(r: RebootRequest): string {
  return r.reason ? `${r.by}: ${r.reason}` : r.by;
}

/** Merge patch that sets (or with null removes) the hold. */
export function holdPatch(h: Hold | null): Record<string, unknown> {
  return { metadata: { annotations: { [HOLD_ANNOTATION]: h === null ? null : encodeHold(h) } } };
}

/** Merge patch that sets (or with null removes) the reboot request. */
export function requestPatch(r: RebootRequest | null): Record<string, unknown> {
  return { metadata: { annotations: { [REQUEST_ANNOTATION]: r === null ? null : encodeRequest(r) } } };
}

/**
 * JSON Patch that removes the request only if it is still exactly `raw` (the value the daemon saw before
 * its reboot): a request made again meanwhile is not lost. The apiserver answers 422 when the test fails.
 */
export function clearRequestPatch(raw: string): Array<Record<string, unknown>> {
  const path = `/metadata/annotations/${REQUEST_ANNOTATION.replaceAll("~", "~0").replaceAll("/", "~1")}`;
  return [{ op: "test", path, value: raw }, { op: "remove", path }];
}
