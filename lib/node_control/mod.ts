/**
 * Per-node control by operators: hold a node (`kreboot hold`) or ask for its reboot without a sentinel
 * (`kreboot request-reboot`), as node annotations under `kreboot.dev/`. codec.ts decodes them
 * (`isHeld(node)`, `holdOf(node)`, `rebootRequested(node)`, …); watch.ts is how the daemon sees them on its
 * own Node; write.ts holds the daemon's own writes (`writeHold`, `clearRequest`).
 */
export {
  clearRequestPatch,
  type Decoded,
  decodeHold,
  decodeRequest,
  describeHold,
  describeRequest,
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
  requestToClearAfterReboot,
} from "./codec.ts";
export { NodeControlWatch } from "./watch.ts";
export { clearRequest, clearRequestAfterReboot, writeHold } from "./write.ts";
