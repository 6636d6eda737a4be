/**
 * Per-node control by operators: hold a node (`kreboot hold`) or ask for its reboot without a sentinel
 * (`kreboot request-reboot`), as node annotations under `kreboot.dev/`. The daemon reads them with
 * `isHeld(node)` and `rebootRequested(node)`.
 */
export {
  clearRequestPatch,
  type Decoded,
  decodeHold,
  decodeRequest,
  encodeHold,
  encodeRequest,
  type Hold,
  HOLD_ANNOTATION,
  holdOf,
  holdPatch,
  isHeld,
  type NodeLike,
  type RebootRequest,
  rebootRequested,
  REQUEST_ANNOTATION,
  requestOf,
  requestPatch,
  requestSatisfied,
} from "./codec.ts";
