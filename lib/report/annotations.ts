/**
 * kured's `--annotate-nodes` annotations, with kured's keys and meaning, so dashboards and scripts written for
 * kured keep working (kured's `KuredRebootInProgressAnnotation` and `KuredMostRecentRebootNeededAnnotation` in
 * https://github.com/kubereboot/kured/blob/1.23.0/cmd/kured/main.go):
 * - `weave.works/kured-reboot-in-progress` and `weave.works/kured-most-recent-reboot-needed` are set to the
 *   same RFC 3339 time when a reboot becomes required and the first is not already there;
 * - `reboot-in-progress` is removed once the sentinel is gone after the reboot.
 *   kreboot also removes it when the sentinel disappears without a reboot, which kured never does (the
 *   annotation then claimed a reboot in progress forever).
 * Adding is a merge patch; removing is a JSON patch `remove`, which fails harmlessly when the key is missing.
 */
import { apiStatus, describeApiError, dryRunParam, JSON_PATCH, type Kube, MERGE_PATCH } from "../kube/mod.ts";
import type { Logger } from "../log.ts";
import { rfc3339 } from "./condition.ts";

export const IN_PROGRESS = "weave.works/kured-reboot-in-progress";
export const MOST_RECENT = "weave.works/kured-most-recent-reboot-needed";

/** JSON Pointer escaping of one path segment (RFC 6901): `~` → `~0`, `/` → `~1`. */
export function jsonPointerSegment(s: string): string {
  return s.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** The merge patch that marks a reboot as needed, or undefined when it is already marked (kured: no update). */
export function addPatch(
  existing: Record<string, string> | undefined,
  now: Date,
): { metadata: { annotations: Record<string, string> } } | undefined {
  if (existing?.[IN_PROGRESS] !== undefined) return undefined;
  const at = rfc3339(now);
  return { metadata: { annotations: { [IN_PROGRESS]: at, [MOST_RECENT]: at } } };
}

export function removePatch(key: string): { op: "remove"; path: string }[] {
  return [{ op: "remove", path: `/metadata/annotations/${jsonPointerSegment(key)}` }];
}

export class NodeAnnotator {
  #kube: Kube;
  #node: string;
  #log: Logger;
  #now: () => Date;

  constructor(kube: Kube, node: string, log: Logger, now: () => Date = () => new Date()) {
    this.#kube = kube;
    this.#node = node;
    this.#log = log;
    this.#now = now;
  }

  /** Sets both annotations unless a reboot is already marked in progress. Never throws. */
  async markRequired(): Promise<void> {
    try {
      const node = await this.#kube.core.readNode({ name: this.#node });
      const patch = addPatch(node.metadata?.annotations, this.#now());
      if (!patch) return;
      await this.#kube.core.patchNode(
        { name: this.#node, body: patch, ...dryRunParam(this.#kube) },
        MERGE_PATCH,
      );
      this.#log.info(
        `Adding node ${this.#node} annotation: ${IN_PROGRESS}=${patch.metadata.annotations[IN_PROGRESS]}`,
      );
    } catch (e) {
      this.#log.warn("could not annotate the node", { annotation: IN_PROGRESS, error: describeApiError(e) });
    }
  }

  /** Removes the in-progress annotation; a missing one is fine. Never throws. */
  async clearInProgress(): Promise<void> {
    try {
      await this.#kube.core.patchNode(
        { name: this.#node, body: removePatch(IN_PROGRESS), ...dryRunParam(this.#kube) },
        JSON_PATCH,
      );
      this.#log.info(`Deleting node ${this.#node} annotation ${IN_PROGRESS}`);
    } catch (e) {
      // 422 (or 500 on older apiservers): the annotation, or all annotations, are not there. Nothing to do.
      const status = apiStatus(e);
      if (
        status === 404 || status === 422 ||
        (status === 500 && /nonexistent|missing/i.test(describeApiError(e)))
      ) {
        return;
      }
      this.#log.warn("could not remove the node annotation", {
        annotation: IN_PROGRESS,
        error: describeApiError(e),
      });
    }
  }
}
