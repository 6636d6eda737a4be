/**
 * The RBAC rules the daemon needs: exactly the API calls it makes (the e2e RBAC test compares them with the
 * apiserver's audit log, both ways: every call is granted, every granted verb is used), nothing "just in
 * case". `kreboot manifests` renders them. The operator commands (`kreboot pause`, `resume`, `status`) run
 * with the operator's own credentials and are not covered here.
 */
import { EVENT_NAMESPACE } from "./report/events.ts";

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** Cluster-wide: nodes (own node and lock holders), pods to drain and to check, PDBs for the pre-flight. */
export function clusterRules(): PolicyRule[] {
  return [
    // list: only with a percentage --concurrency when the DaemonSet's status does not say how many nodes
    // run it. watch: the lock watches the holder's Node (by name) while waiting for a slot.
    { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch", "patch"] },
    { apiGroups: [""], resources: ["nodes/status"], verbs: ["patch"] },
    { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "delete"] },
    { apiGroups: [""], resources: ["pods/eviction"], verbs: ["create"] },
    { apiGroups: ["policy"], resources: ["poddisruptionbudgets"], verbs: ["list"] },
  ];
}

/** In the DaemonSet's namespace: the slot Leases, and its own DaemonSet (kured's manual lock, node count). */
export function namespaceRules(dsName: string): PolicyRule[] {
  return [
    {
      apiGroups: ["coordination.k8s.io"],
      resources: ["leases"],
      verbs: ["list", "watch", "create", "patch"],
    },
    { apiGroups: ["apps"], resources: ["daemonsets"], resourceNames: [dsName], verbs: ["get", "watch"] },
  ];
}

/**
 * In `default` only: Events about Nodes live there, as the kubelet's do (a Node has no namespace). A Role
 * there is narrower than a cluster-wide rule: kreboot cannot write Events into other namespaces.
 */
export function eventRules(): PolicyRule[] {
  return [{ apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] }];
}

/** Rules and where they apply: `namespace` undefined = cluster-wide (a ClusterRole with a ClusterRoleBinding). */
export interface Grant {
  namespace?: string;
  rules: PolicyRule[];
}

/** Everything the daemon's ServiceAccount is granted, for a DaemonSet `dsName` in `namespace`. */
export function daemonGrants(dsName: string, namespace: string): Grant[] {
  return [
    { rules: clusterRules() },
    { namespace, rules: namespaceRules(dsName) },
    { namespace: EVENT_NAMESPACE, rules: eventRules() },
  ];
}

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
