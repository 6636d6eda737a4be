/**
 * The RBAC rules the daemon needs: exactly the API calls it makes (the e2e RBAC test compares them with the
 * apiserver's audit log), nothing "just in case". `kreboot manifests` renders them.
 */

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** Cluster-wide: nodes (own node and lock holders), pods to drain and to check, PDBs for the pre-flight. */
export function clusterRules(): PolicyRule[] {
  return [
    { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch", "patch"] },
    { apiGroups: [""], resources: ["nodes/status"], verbs: ["patch"] },
    { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "delete"] },
    { apiGroups: [""], resources: ["pods/eviction"], verbs: ["create"] },
    { apiGroups: ["policy"], resources: ["poddisruptionbudgets"], verbs: ["list"] },
    // Events about Nodes live in "default", as the kubelet's do; one rule, cluster-wide create/patch.
    { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] },
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
