/**
 * The daemon's writes of the per-node control: placing or lifting a hold (e.g. a safety check of its own that
 * stops a node from rebooting again), and removing a reboot request once a reboot has satisfied it. Each is one
 * patch of the Node; `--dry-run` sends it with `dryRun=All`. The operators' commands are lib/cli/hold.ts.
 */
import { apiStatus, dryRunParam, JSON_PATCH, type Kube, MERGE_PATCH } from "../kube/mod.ts";
import type { Logger } from "../log.ts";
import {
  clearRequestPatch,
  describeRequest,
  type Hold,
  holdPatch,
  type NodeLike,
  requestOf,
  requestToClearAfterReboot,
} from "./codec.ts";

type NodeKube = Pick<Kube, "core" | "dryRun">;

/** Sets the node's hold (null lifts it) with one merge patch. */
export async function writeHold(kube: NodeKube, node: string, hold: Hold | null): Promise<void> {
  await kube.core.patchNode({ name: node, body: holdPatch(hold), ...dryRunParam(kube) }, MERGE_PATCH);
}

/**
 * Removes the reboot request if its annotation is still exactly `raw`. Returns false when it changed meanwhile
 * (someone asked again, or withdrew it): the API server refuses the patch's test (422) and nothing is lost.
 */
export async function clearRequest(kube: NodeKube, node: string, raw: string): Promise<boolean> {
  try {
    await kube.core.patchNode(
      { name: node, body: clearRequestPatch(raw), ...dryRunParam(kube) },
      JSON_PATCH,
    );
    return true;
  } catch (e) {
    if (apiStatus(e) === 422) return false;
    throw e;
  }
}

/**
 * After a confirmed reboot: removes the request that reboot satisfied (`requestToClearAfterReboot` of `seen`,
 * the Node as the daemon last saw it). Throws when the patch fails otherwise, so the step is tried again.
 */
export async function clearRequestAfterReboot(
  kube: NodeKube,
  node: string,
  seen: NodeLike,
  log: Logger,
): Promise<void> {
  const raw = requestToClearAfterReboot(seen);
  if (raw === undefined) return;
  const r = requestOf(seen)?.value;
  const by = r === undefined ? undefined : describeRequest(r);
  if (await clearRequest(kube, node, raw)) {
    log.info("cleared the reboot request this reboot satisfied", { by });
  } else log.info("the reboot request changed after the reboot; leaving the new one", { by });
}
