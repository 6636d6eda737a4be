/**
 * Draining a node and putting it back, kubectl's rules with kured's settings. The entry point of lib/drain:
 *
 * - `run.ts`: one drain (evictions, deletes of finished pods, waiting until they are gone);
 * - `restore.ts`: the retreat after a failed drain and the restore after a reboot;
 * - `node.ts`: the Node writes themselves (cordon, uncordon, the PreferNoSchedule taint, labels);
 * - `preflight.ts`: "could a drain go through now?", checked before a slot is taken;
 * - `pods.ts`, `pdb.ts`, `answer.ts`, `backoff.ts`, `limit.ts`, `list.ts`, `selector.ts`: the pieces of a drain.
 *
 * `--drain-delay`, `--reboot-delay` and the slot are the loop's job.
 */
export { drain, type DrainKube, type DrainOptions, type DrainResult, type EvictionResult } from "./run.ts";
export { type NodeRestore, restoreAfterReboot, retreat } from "./restore.ts";
export {
  cordon,
  CORDONED_BY_KREBOOT,
  type KnownNode,
  setNodeLabels,
  setPreferNoScheduleTaint,
} from "./node.ts";
export { preflight, type PreflightOptions } from "./preflight.ts";
