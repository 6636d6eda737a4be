/**
 * RBAC's own matching of an API call against rules and grants, as the authorizer does it (wildcards,
 * resourceNames, subresources; https://kubernetes.io/docs/reference/access-authn-authz/rbac/): the oracle the
 * tests compare lib/rbac.ts's grants with, against the apiserver's audit log and against single calls.
 */
import type { Grant, PolicyRule } from "../../lib/rbac.ts";

/** One API request as the authorizer sees it (the `objectRef` and `verb` of an audit event). */
export interface ApiCall {
  verb: string;
  /** "" for the core group. */
  apiGroup: string;
  resource: string;
  subresource?: string;
  /** Undefined for cluster-scoped resources and for requests across all namespaces. */
  namespace?: string;
  /** The object's name; for list/watch, the `metadata.name` field selector's value. */
  name?: string;
}

/** The rule's resource string for a call: `pods` or `pods/eviction`. */
export function callResource(call: ApiCall): string {
  return call.subresource ? `${call.resource}/${call.subresource}` : call.resource;
}

/** RBAC's own matching of one rule (wildcards included), without regard to where the rule applies. */
export function ruleAllows(rule: PolicyRule, call: ApiCall): boolean {
  const has = (list: readonly string[], v: string) => list.includes("*") || list.includes(v);
  if (!has(rule.apiGroups, call.apiGroup)) return false;
  if (!has(rule.resources, callResource(call))) return false;
  if (!has(rule.verbs, call.verb)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (call.name !== undefined && names.includes(call.name));
}

/** Whether a grant covers a call: a namespaced grant covers only requests in its namespace. */
export function grantAllows(grant: Grant, call: ApiCall): boolean {
  if (grant.namespace !== undefined && call.namespace !== grant.namespace) return false;
  return grant.rules.some((r) => ruleAllows(r, call));
}

export function allowed(grants: readonly Grant[], call: ApiCall): boolean {
  return grants.some((g) => grantAllows(g, call));
}
