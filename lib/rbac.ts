/**
 * The RBAC rules the daemon needs: exactly the API calls it makes (the e2e RBAC test compares them with the
 * apiserver's audit log, both ways: every call is granted, every granted verb is used; RBAC's matching for
 * that comparison is in tests/harness/rbac_match.ts), nothing "just in case". `kreboot manifests` renders them. The operator commands (`kreboot pause`, `resume`, `status`) run
 * with the operator's own credentials and are not covered here.
 */
import { EVENT_NAMESPACE } from "./report/events.ts";

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/**
 * Cluster-wide: nodes (own node and lock holders), pods to drain and to check, PDBs for the pre-flight and the
 * health gate, the evicted pods' ReplicaSets and StatefulSets for the health gate.
 */
export function clusterRules(): PolicyRule[] {
  return [
    // list: only with a percentage --concurrency or --budget, to count the nodes (of a --group-label group,
    // or all when the DaemonSet's status does not say how many nodes run it). watch: the lock watches the holder's Node (by name) while waiting for a slot.
    { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch", "patch"] },
    { apiGroups: [""], resources: ["nodes/status"], verbs: ["patch"] },
    { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "delete"] },
    { apiGroups: [""], resources: ["pods/eviction"], verbs: ["create"] },
    { apiGroups: ["policy"], resources: ["poddisruptionbudgets"], verbs: ["list"] },
    // The post-reboot health gate (--wait-for-workloads): the owners of the evicted pods, read by name.
    { apiGroups: ["apps"], resources: ["replicasets", "statefulsets"], verbs: ["get"] },
  ];
}

/**
 * In the DaemonSet's namespace: the slot Leases, the queue entries (a waiting node deletes its own entry when it
 * gets a slot), the pause and the circuit breaker's record (all Leases of the lock), and its own DaemonSet
 * (kured's manual lock, node count).
 */
export function namespaceRules(dsName: string): PolicyRule[] {
  return [
    {
      apiGroups: ["coordination.k8s.io"],
      resources: ["leases"],
      verbs: ["list", "watch", "create", "patch", "delete"],
    },
    { apiGroups: ["apps"], resources: ["daemonsets"], resourceNames: [dsName], verbs: ["get", "watch"] },
  ];
}

/**
 * In `default` only: Events about Nodes live there, as the kubelet's do (a Node has no namespace). A Role
 * there is narrower than a cluster-wide rule: kreboot cannot write Events into other namespaces.
 */
function eventRules(): PolicyRule[] {
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
