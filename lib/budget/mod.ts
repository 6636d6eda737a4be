/**
 * Reboot budgets per node group: `--group-label` forms the groups, `--concurrency` and `--budget` set how
 * many slots each may hold at an instant, `--max-concurrency-total` caps all groups together.
 *
 *   const g = groupOf(node.metadata?.labels, config.groupLabel);
 *   const a = admit({ policy: { concurrency: config.concurrency, budgets: config.budgets }, group: g, … });
 *   slotLeaseName(config.dsName, g, config.groupLabel, 0);   // "kured-slot-0" without --group-label
 */
export {
  ALL,
  decodeLeaseGroup,
  describeGroup,
  type Group,
  GROUP_FRAGMENT_LABEL,
  GROUP_KEY_ANNOTATION,
  GROUP_NAME_OVERHEAD,
  GROUP_VALUE_ANNOTATION,
  groupFragment,
  groupKey,
  groupLeaseMetadata,
  groupOf,
  groupSlotIndex,
  slotLeaseName,
  slotLeasePrefix,
} from "./group.ts";
export { type Budget, formatBudgetSpec, formatLimit, type Limit, parseBudgetSpec } from "./spec.ts";
export {
  type Admission,
  type AdmissionInput,
  admit,
  type Allowance,
  allowedSlots,
  appliesTo,
  type BudgetPolicy,
  budgetSlots,
  isActive,
  nextBudgetChange,
  type TotalCap,
} from "./resolve.ts";
export { checkGroupFlags, type GroupFlags } from "./check.ts";
