/**
 * Least privilege, proven: the daemon runs a full cycle with the ServiceAccount and RBAC of the generated
 * manifests (`installKreboot`), and the apiserver's audit log lists every call it made. Each call must be
 * granted by the generated rules, and each verb of each rule must have been used at least once: a rule the
 * daemon never needs is a defect, not a precaution.
 *
 * It runs on the cluster with the real controllers, so the disruption controller, the Deployment's ReplicaSet,
 * the scheduler and the DaemonSet controller answer the daemon as they would in production.
 *
 * The cycle is built to reach every path that needs a permission:
 * - audit-a reboots first: PDB pre-flight (PDBs list), cordon (nodes patch), a finished pod deleted (pods
 *   delete), two pods of a Deployment under one PDB that allows one disruption, so the second eviction gets
 *   429 and is retried after re-reading the pod (pods/eviction create, pods get) once the replacement runs
 *   elsewhere, the RebootRequired condition (nodes/status).
 * - audit-b needs a reboot while audit-a holds the only slot: it waits on the lock's watch (leases watch),
 *   checks and watches the holder's Node (nodes get/watch), then takes the slot (leases create/patch).
 * - audit-c is blocked by a pod (pods list) with a short period, so the same RebootBlocked Event repeats and
 *   is patched (events create/patch).
 * - --annotate-nodes, --prefer-no-schedule-taint and the node-label flags add their Node writes.
 * - --wait-for-workloads: after their reboots audit-a and audit-b read the ReplicaSet and the StatefulSet
 *   (db) their drains evicted pods of (replicasets/statefulsets get).
 * - `--concurrency=50%` counts the nodes (nodes list) while the DaemonSet's status says nothing: at first its
 *   nodeSelector matches no node (desiredNumberScheduled 0); once audit-a drains, the nodes get the label and
 *   the DaemonSet controller places its pods, which audit-a's recovery check then waits for. The DaemonSet
 *   itself is watched for its status and kured's manual lock (daemonsets watch).
 * - audit-a reboots once more after the apiserver came back with the WatchList feature off (as Kubernetes 1.33
 *   ships): its first try then lists the Leases and reads the DaemonSet (daemonsets get).
 */
import assert from "node:assert/strict";
import { MERGE_PATCH } from "../harness/full_kube.ts";
import { daemonGrants, type PolicyRule } from "../../lib/rbac.ts";
import { type ApiCall, callResource, grantAllows } from "../harness/rbac_match.ts";
import { type AuditEvent, startCluster } from "../harness/mod.ts";
import { eventually, installKreboot } from "./support.ts";

const DS = "audit";
const NODES = ["audit-a", "audit-b", "audit-c"];

/** The call an audit event records; undefined for non-resource URLs (which no rule here grants). */
function auditCall(e: AuditEvent): ApiCall | undefined {
  const r = e.objectRef;
  if (!r?.resource) return undefined;
  return {
    verb: e.verb,
    apiGroup: r.apiGroup ?? "",
    resource: r.resource,
    ...(r.subresource ? { subresource: r.subresource } : {}),
    ...(r.namespace ? { namespace: r.namespace } : {}),
    ...(r.name ? { name: r.name } : {}),
  };
}

function describeCall(c: ApiCall): string {
  const where = c.namespace ? ` in ${c.namespace}` : "";
  const named = c.name ? ` ${c.name}` : "";
  return `${c.verb} ${c.apiGroup || "core"}/${callResource(c)}${named}${where}`;
}

Deno.test("rbac: the daemon's calls in a full cycle are exactly what the generated rules grant", async () => {
  await using cluster = await startCluster({ audit: true, controllers: true });
  await cluster.ensureNamespace("work");
  const install = await installKreboot(cluster, DS, ["--concurrency=50%"]);
  const user = `system:serviceaccount:${install.namespace}:${DS}`;
  const dsLabel = "kreboot.test/audit-ds";
  await cluster.kube.apps.patchNamespacedDaemonSet({
    namespace: install.namespace,
    name: DS,
    body: { spec: { template: { spec: { nodeSelector: { [dsLabel]: "on" } } } } },
  }, MERGE_PATCH);
  await eventually("the DaemonSet placing no pod", 30_000, async () => {
    const ds = await cluster.kube.apps.readNamespacedDaemonSet({ namespace: install.namespace, name: DS });
    const seen = (ds.status?.observedGeneration ?? 0) >= (ds.metadata?.generation ?? 1);
    return seen && ds.status?.desiredNumberScheduled === 0 ? true : undefined;
  });
  // audit-b takes no pods until audit-a's drain was refused once (see below); audit-c has a pool of its own.
  await cluster.createNode("audit-a", { pool: "audit" });
  await cluster.createNode("audit-b", { pool: "audit", unschedulable: true });
  await cluster.createNode("audit-c", { pool: "audit-c" });
  // Pods that take a second to stop, as the drain's wait for them goes through pods get/list.
  await cluster.createDeployment("work", "web", { pool: "audit", replicas: 2, terminationSeconds: 1 });
  await cluster.waitForDeployment("work", "web");
  await cluster.createBarePod("work", { name: "audit-a-job", node: "audit-a", exitCode: 0 });
  await cluster.createBarePod("work", { name: "audit-b-api", node: "audit-b", terminationSeconds: 1 });
  await cluster.createStatefulSet("work", "db", { pool: "audit" });
  await cluster.waitForReadyPods("work", "app=db", 1);
  await cluster.createStatefulSet("work", "precious", { pool: "audit-c" });
  await cluster.waitForReadyPods("work", "app=precious", 1);
  await cluster.createPdb("work", "web", { matchLabels: { app: "web" }, maxUnavailable: 1 });
  await cluster.waitForPdb("work", "web", 1);

  // Every feature that writes to the Node, so that their calls are checked too.
  const args = [
    ...install.args,
    "--concurrency=50%",
    "--annotate-nodes",
    "--prefer-no-schedule-taint=kreboot.test/waiting",
    "--pre-reboot-node-labels=kreboot.test/state=rebooting",
    "--post-reboot-node-labels=kreboot.test/state=done",
    // The health gate reads the evicted pods' ReplicaSets and StatefulSets back after the reboot.
    "--wait-for-workloads",
  ];
  const start = (node: string, extra: string[]) =>
    cluster.startDaemon(node, {
      kubeconfig: install.kubeconfig,
      args: [...args, ...extra],
      rebootRequired: true,
    });

  const a = await start("audit-a", ["--period=1h"]);
  await a.waitForJson((e) => e.phase === "draining", 30_000);
  // From now on the DaemonSet has a pod on each node (which audit-a's recovery check waits for).
  for (const node of NODES) {
    await cluster.kube.core.patchNode(
      { name: node, body: { metadata: { labels: { [dsLabel]: "on" } } } },
      MERGE_PATCH,
    );
  }
  const b = await start("audit-b", ["--period=1h"]);
  await b.waitForJson((e) => e.blockReason === "lock", 30_000);
  // The first eviction used the PDB's one disruption; the second was refused with 429 (its replacement has
  // nowhere to run yet). It is retried once the replacement runs on audit-b and the disruption controller
  // allows one again.
  await eventually("an eviction refused with 429", 30_000, async () => {
    const events = await cluster.cp.auditEvents(user);
    return events.some((e) => e.objectRef?.subresource === "eviction" && e.responseStatus?.code === 429) ||
      undefined;
  });
  await cluster.kube.core.patchNode(
    { name: "audit-b", body: { spec: { unschedulable: false } } },
    MERGE_PATCH,
  );
  await a.waitForReboots(1, 60_000);
  await b.waitForReboots(1, 90_000);
  // So far every first try read the lock through its watches' streamed initial state. Kubernetes 1.33 streams
  // none (WatchList off by default): there a first try lists the Leases and reads the DaemonSet instead. The
  // apiserver comes back that way, and audit-a needs another reboot.
  const streamed = (await cluster.cp.auditEvents(user)).filter((e) =>
    /sendInitialEvents=true/.test(e.requestURI)
  );
  for (const resource of ["leases", "daemonsets"]) {
    assert.ok(
      streamed.some((e) => e.objectRef?.resource === resource && e.verb === "watch"),
      `a first try watched ${resource} with its initial state`,
    );
  }
  const restartedAt = Date.now();
  await cluster.restartApiserver({ addArgs: ["--feature-gates=WatchList=false"] });
  const backAt = Date.now();
  await a.setRebootRequired(true);
  await a.waitForReboots(2, 90_000);

  const c = await start("audit-c", ["--period=2s", "--blocking-pod-selector=app=precious"]);
  await eventually("audit-c blocked twice", 30_000, () => {
    const n = c.lines.filter((l) => l.text.includes('"blockReason":"pod"')).length;
    return Promise.resolve(n >= 2 || undefined);
  });
  // Held repeats of an Event are written at shutdown: the patch of its series.
  await c.stop();
  await a.stop();
  await b.stop();

  const calls = (await cluster.cp.auditEvents(user))
    .filter((e) => e.stage === "ResponseComplete" || e.stage === "ResponseStarted");
  assert.ok(calls.length > 50, `the daemons made calls as ${user} (${calls.length})`);
  const grants = daemonGrants(DS, install.namespace);

  // 1. Every call is granted (by the rules as written, and by the apiserver: nothing was forbidden).
  const unknown = calls.filter((e) => !auditCall(e)).map((e) => `${e.verb} ${e.requestURI}`);
  assert.deepEqual(unknown, [], "calls to non-resource URLs");
  const ungranted = new Set(
    calls.map((e) => auditCall(e)!).filter((call) => !grants.some((g) => grantAllows(g, call))).map(
      describeCall,
    ),
  );
  assert.deepEqual([...ungranted], [], "calls the generated rules do not grant");
  // A kube-apiserver that has just started refuses everything RBAC would allow until its authorizer has read
  // the roles: the daemons' watches that reconnect at once meet that, whatever the rules say.
  const warmingUp = (e: AuditEvent) => {
    const at = Date.parse(e.requestReceivedTimestamp ?? "");
    return at >= restartedAt && at <= backAt + 10_000;
  };
  const forbidden = calls.filter((e) => e.responseStatus?.code === 403 && !warmingUp(e)).map((e) =>
    describeCall(auditCall(e)!)
  );
  assert.deepEqual(forbidden, [], "calls the apiserver refused");

  // 2. Every verb of every rule was used at least once.
  const unused: string[] = [];
  for (const grant of grants) {
    for (const rule of grant.rules) {
      for (const resource of rule.resources) {
        for (const verb of rule.verbs) {
          const one: PolicyRule = { ...rule, resources: [resource], verbs: [verb] };
          const narrowed = { ...grant, rules: [one] };
          if (!calls.some((e) => grantAllows(narrowed, auditCall(e)!))) {
            unused.push(
              `${verb} ${rule.apiGroups.join(",") || "core"}/${resource} (${grant.namespace ?? "cluster"})`,
            );
          }
        }
      }
    }
  }
  assert.deepEqual(unused, [], "granted but never used: remove these rules or exercise them here");
});
