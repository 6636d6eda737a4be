/**
 * Putting a node back: after its reboot (`restoreAfterReboot`) or after a failed drain (`retreat`). Every
 * step is tried and the error lists all that failed, so one refused patch does not leave the rest undone. A
 * node whose Node object was deleted meanwhile has nothing left to restore: that is success, not a failure
 * to retry forever. Releasing the slot and scheduling the retry are the loop's job.
 */
import { describeApiError, isNotFound, type Kube } from "../kube/mod.ts";
import type { Logger } from "../log.ts";
import {
  type KnownNode,
  removeNodeLabels,
  setNodeLabels,
  setPreferNoScheduleTaint,
  uncordon,
} from "./node.ts";

type NodeKube = Pick<Kube, "core" | "dryRun">;

export interface NodeRestore {
  /** `--prefer-no-schedule-taint`; "" = none. */
  taint: string;
  /** The Node as already known, for the uncordon, the first write (later ones read: it changed since). */
  known?: KnownNode;
}

/**
 * Undoes what kreboot did to the node before a failed drain: uncordons it only if kreboot cordoned it, and
 * removes the PreferNoSchedule taint and the pre-reboot labels.
 */
export async function retreat(
  kube: NodeKube,
  node: string,
  opts: NodeRestore & { preRebootLabels: Readonly<Record<string, string>> },
  log?: Logger,
): Promise<void> {
  await allSteps(`retreat on node ${node}`, log, [
    ["uncordon", async () => {
      const { uncordoned } = await uncordon(kube, node, opts.known);
      if (!uncordoned) log?.info("kreboot did not cordon this node: leaving its schedulability as it is");
    }],
    ["remove taint", () => setPreferNoScheduleTaint(kube, node, opts.taint, false)],
    ["remove pre-reboot labels", () => removeNodeLabels(kube, node, Object.keys(opts.preRebootLabels))],
  ]);
}

/**
 * After a successful reboot: uncordon if kreboot cordoned, set the post-reboot labels (also on nodes an admin
 * had cordoned, unlike kured #1328) and remove the taint.
 */
export async function restoreAfterReboot(
  kube: NodeKube,
  node: string,
  opts: NodeRestore & { postRebootLabels: Readonly<Record<string, string>> },
  log?: Logger,
): Promise<void> {
  await allSteps(`restoring node ${node} after its reboot`, log, [
    ["uncordon", () => uncordon(kube, node, opts.known)],
    ["set post-reboot labels", () => setNodeLabels(kube, node, opts.postRebootLabels)],
    ["remove taint", () => setPreferNoScheduleTaint(kube, node, opts.taint, false)],
  ]);
}

async function allSteps(
  what: string,
  log: Logger | undefined,
  steps: [string, () => Promise<unknown>][],
): Promise<void> {
  const failed: string[] = [];
  for (const [name, step] of steps) {
    try {
      await step();
    } catch (e) {
      if (nodeGone(e)) {
        log?.info("the Node object no longer exists: nothing to restore", { step: name });
        return;
      }
      failed.push(`${name}: ${describeApiError(e)}`);
    }
  }
  if (failed.length > 0) throw new Error(`${what} incomplete (will be retried): ${failed.join("; ")}`);
}

/** Every step reads or patches the Node itself, so a 404 (possibly wrapped as the cause) means it is gone. */
function nodeGone(e: unknown): boolean {
  return isNotFound(e) || (e instanceof Error && isNotFound(e.cause));
}
