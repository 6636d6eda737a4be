/**
 * The hold gate: a node an operator held (`kreboot hold NODE --reason …`, the annotation `kreboot.dev/hold`
 * of lib/node_control/) never takes a slot. It is the first gate: the hold is a person's explicit stop, and it
 * is known without asking anything but the daemon's own watch of its Node. When the Node cannot be read the
 * gate blocks (a hold that fails open would reboot a node someone protected) and asks again soon.
 */
import { describeApiError } from "../kube/mod.ts";
import { describeHold, type Hold } from "../node_control/mod.ts";
import { blocked, cannotCheck, CLEAR, type GateResult } from "./gate.ts";

export async function checkHold(
  node: string,
  hold: () => Promise<Hold | undefined>,
  nowMs: number,
): Promise<GateResult> {
  let h: Hold | undefined;
  try {
    h = await hold();
  } catch (e) {
    return cannotCheck("held", `cannot read whether node ${node} is held: ${describeApiError(e)}`, nowMs);
  }
  if (h === undefined) return CLEAR;
  return blocked("held", `held by ${describeHold(h)}; \`kreboot unhold ${node}\` lets it reboot`);
}
