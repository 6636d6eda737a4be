/**
 * Draining a node and putting it back, kubectl's rules with kured's settings. The entry point of lib/drain:
 *
 * - `run.ts`: one drain (evictions, deletes of finished pods, waiting until they are gone), told and answered
 *   as `options.ts` says; `tracked.ts` where each pod stands, `blocked.ts` the pods that hold it up now;
 * - `restore.ts`: the retreat after a failed drain and the restore after a reboot;
 * - `node.ts`: the Node writes themselves (cordon, uncordon, the PreferNoSchedule taint, labels);
 * - `preflight.ts`: "could a drain go through now?", checked before a slot is taken;
 * - `blockers.ts`: why a pod stops a drain, in words;
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
