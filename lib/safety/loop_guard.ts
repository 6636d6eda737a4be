/**
 * The reboot-loop guard (issue 16, item 3). A sentinel that survives the reboot (a package that keeps asking,
 * a sentinel on a persistent disk — kured#976, #952) would reboot a node once per period for ever. So: if,
 * after a confirmed reboot, the sentinel still says a reboot is required, the node does not reboot again
 * before `--min-reboot-interval` and reports `RebootLoop`; after `--max-consecutive-reboots` such reboots in a
 * row it holds itself until a person releases it.
 *
 * The count must survive the very reboots it counts, so it is kept on the Node (`LOOP_ANNOTATION`, written
 * by the node's own daemon). The hold itself is the per-node hold of the budgets work, reached through the
 * `NodeHold` port so that its annotation key is defined in one place, there.
 */
import { formatGoDuration } from "../config/duration.ts";
import { parseAnnotationJson, timeOf } from "./annotation_json.ts";

/** The Node annotation with the guard's memory. */
export const LOOP_ANNOTATION = "kreboot.dev/reboot-loop";
/** The condition reason, Event reason and metric label of a guarded node. */
export const REBOOT_LOOP_REASON = "RebootLoop";

/** The per-node hold ("do not reboot this node until a person says so"), as the guard needs it. */
export interface NodeHold {
  /** Is the node held now, by anyone? */
  isHeld(): Promise<boolean>;
  /** Holds the node; `reason` is shown to the person who must release it. */
  hold(reason: string): Promise<void>;
}

export interface LoopState {
  /** Reboots in a row after which the sentinel still said a reboot is required. */
  count: number;
  /** When the last counted reboot was confirmed. */
  lastRebootAtMs?: number;
  /** The boot that was counted last, so a restarted daemon does not count the same boot twice. */
  countedBootId?: string;
  /** When the guard held the node; a hold that is gone since then was released by a person. */
  heldAtMs?: number;
}

export const NO_LOOP: LoopState = Object.freeze({ count: 0 });

export interface LoopSettings {
  nowMs: number;
  /** `--min-reboot-interval`; 0 = no wait. */
  minIntervalMs: number;
  /** `--max-consecutive-reboots`; 0 = never hold. */
  maxConsecutive: number;
}

export type LoopVerdict =
  | { action: "go"; state: LoopState }
  /** Not before `retryAtMs`. */
  | { action: "wait"; state: LoopState; retryAtMs: number; message: string }
  /** Put the hold on now (the shell calls `NodeHold.hold(message)`), then store `state`. */
  | { action: "hold"; state: LoopState; message: string }
  /** Held by the guard and not released yet: nothing to do. */
  | { action: "held"; state: LoopState; message: string };

/**
 * The first sentinel check after a confirmed reboot (new boot ID): still required counts one more reboot in
 * a row, not required ends the loop. The same boot is only counted once.
 */
export function observeAfterReboot(
  state: LoopState,
  boot: { bootId: string; confirmedAtMs: number; sentinelRequired: boolean },
): LoopState {
  if (!boot.sentinelRequired) return NO_LOOP;
  if (state.countedBootId === boot.bootId) return state;
  return { ...state, count: state.count + 1, lastRebootAtMs: boot.confirmedAtMs, countedBootId: boot.bootId };
}

/** May a required reboot start now? `held` is whether the node is held now (by anyone). */
export function judgeLoop(state: LoopState, s: LoopSettings, held: boolean): LoopVerdict {
  if (state.heldAtMs !== undefined && !held) {
    // A person released the guard's hold: start counting afresh (one more loop means holding again later).
    return { action: "go", state: NO_LOOP };
  }
  if (state.count === 0) return { action: "go", state };
  const times = `${state.count} reboot${state.count === 1 ? "" : "s"} in a row`;
  if (s.maxConsecutive > 0 && state.count >= s.maxConsecutive) {
    const message = `reboot loop: ${times} left the sentinel saying a reboot is still required ` +
      `(--max-consecutive-reboots=${s.maxConsecutive}); this node holds itself until a person releases it — ` +
      "find out what keeps requesting the reboot first";
    if (state.heldAtMs !== undefined) return { action: "held", state, message };
    return { action: "hold", state: { ...state, heldAtMs: s.nowMs }, message };
  }
  const notBefore = (state.lastRebootAtMs ?? 0) + s.minIntervalMs;
  if (s.minIntervalMs > 0 && s.nowMs < notBefore) {
    return {
      action: "wait",
      state,
      retryAtMs: notBefore,
      message: `reboot loop: ${times} left the sentinel saying a reboot is still required; the next reboot ` +
        `waits for --min-reboot-interval (${formatGoDuration(s.minIntervalMs)}), until ${
          new Date(notBefore).toISOString()
        }`,
    };
  }
  return { action: "go", state };
}

const VERSION = 1;
const MAX_DECODE_BYTES = 4 * 1024;
const MAX_COUNT = 1_000_000;

/** The annotation value. */
export function encodeLoopState(s: LoopState): string {
  return JSON.stringify({
    v: VERSION,
    count: s.count,
    ...(s.lastRebootAtMs === undefined ? {} : { lastReboot: new Date(s.lastRebootAtMs).toISOString() }),
    ...(s.countedBootId === undefined ? {} : { bootId: s.countedBootId }),
    ...(s.heldAtMs === undefined ? {} : { heldAt: new Date(s.heldAtMs).toISOString() }),
  });
}

/**
 * The state in the annotation; absent = no loop. Never throws: an unreadable value is a problem and counts
 * as no loop (the guard starts afresh rather than holding a node on garbage).
 */
export function decodeLoopState(raw: string | undefined): { state: LoopState; problems: string[] } {
  if (raw === undefined || raw === "") return { state: NO_LOOP, problems: [] };
  const unreadable = (why: string) => ({
    state: NO_LOOP,
    problems: [
      `the ${LOOP_ANNOTATION} annotation is unreadable (${why}); the reboot-loop count starts afresh`,
    ],
  });
  const parsed = parseAnnotationJson(raw, VERSION, MAX_DECODE_BYTES);
  if (!parsed.ok) return unreadable(parsed.why);
  const o = parsed.fields;
  if (typeof o.count !== "number" || !Number.isSafeInteger(o.count) || o.count < 0 || o.count > MAX_COUNT) {
    return unreadable("count is not a small non-negative integer");
  }
  const state: LoopState = { count: o.count };
  const last = timeOf(o.lastReboot);
  if (last !== undefined) state.lastRebootAtMs = last;
  if (typeof o.bootId === "string" && /^[0-9A-Za-z-]{1,64}$/.test(o.bootId)) state.countedBootId = o.bootId;
  const held = timeOf(o.heldAt);
  if (held !== undefined) state.heldAtMs = held;
  return { state, problems: [] };
}
