/**
 * Label selector matching as apimachinery's `metav1.LabelSelectorAsSelector` does it, for deciding which
 * PodDisruptionBudgets cover a pod. A missing selector selects nothing; an empty one (`{}`) selects every pod
 * in the namespace (policy/v1 semantics). A selector this code cannot read (an unknown operator) is treated as
 * matching, so a PDB is never silently ignored.
 */
import type * as k8s from "@kubernetes/client-node";

export function labelSelectorMatches(
  selector: k8s.V1LabelSelector | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  if (selector === undefined) return false;
  const have = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (have[key] !== value) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    if (!requirementMatches(req, have)) return false;
  }
  return true;
}

function requirementMatches(
  req: k8s.V1LabelSelectorRequirement,
  labels: Readonly<Record<string, string>>,
): boolean {
  const present = Object.hasOwn(labels, req.key);
  const value = labels[req.key];
  const values = req.values ?? [];
  switch (req.operator) {
    case "In":
      return present && value !== undefined && values.includes(value);
    case "NotIn":
      return !present || value === undefined || !values.includes(value);
    case "Exists":
      return present;
    case "DoesNotExist":
      return !present;
    default:
      // The apiserver rejects unknown operators, so this is a newer server than we know: err towards "covered".
      return true;
  }
}
