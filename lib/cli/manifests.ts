/**
 * `kreboot manifests`: the install YAML for the given settings. The daemon flags given to `manifests`
 * become the DaemonSet's args, so what an operator checks with `kreboot config` is what runs.
 *
 * The RBAC rules are exactly the calls the daemon makes (the e2e RBAC test compares them with the
 * apiserver's audit log): nothing is granted "just in case".
 */
import { dumpYaml } from "@kubernetes/client-node";
import denoJson from "../../deno.json" with { type: "json" };
import { type Config, configToArgs } from "../config/mod.ts";
import { clusterRules, namespaceRules } from "../rbac.ts";

export interface ManifestOptions {
  namespace: string;
  /** "" = the release image of this version. */
  image: string;
  /** Adds a PrometheusRule (the RebootRequired alert) and a ServiceMonitor. */
  prometheusOperator: boolean;
}

export const DEFAULT_IMAGE = `ghcr.io/kreboot/kreboot:${denoJson.version}`;

/** Where the host's /var/run is mounted, as kured does; the default sentinel is rewritten to live there. */
const SENTINEL_MOUNT = "/sentinel";

/** The daemon's args: every non-default flag, with the sentinel path as mounted in the container. */
export function daemonArgs(config: Config, namespace: string): string[] {
  const c: Config = { ...config, nodeId: "", kubeconfig: "", dsNamespace: namespace };
  const args = configToArgs(c);
  const sentinelGiven = args.some((a) => a.startsWith("--reboot-sentinel="));
  if (!sentinelGiven && c.rebootSentinelCommand.length === 0) {
    args.unshift(`--reboot-sentinel=${SENTINEL_MOUNT}/reboot-required`);
  }
  return args;
}

export function manifestObjects(config: Config, opts: ManifestOptions): Record<string, unknown>[] {
  const ns = opts.namespace;
  const name = config.dsName;
  const labels = { "app.kubernetes.io/name": "kreboot", "app.kubernetes.io/instance": name };
  const meta = (extra: Record<string, unknown> = {}) => ({ name, labels, ...extra });
  const image = opts.image || DEFAULT_IMAGE;
  const port = config.metricsPort;
  const sentinelDir = "/var/run";
  const objects: Record<string, unknown>[] = [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: meta({ namespace: ns }) },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: meta(),
      rules: clusterRules(),
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: meta(),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
      subjects: [{ kind: "ServiceAccount", name, namespace: ns }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: meta({ namespace: ns }),
      rules: namespaceRules(name),
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: meta({ namespace: ns }),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name, namespace: ns }],
    },
    {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: meta({ namespace: ns }),
      spec: {
        selector: { matchLabels: labels },
        updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: name,
            // nsenter into PID 1's mount namespace runs the reboot and sentinel commands on the host.
            hostPID: true,
            restartPolicy: "Always",
            priorityClassName: "system-node-critical",
            tolerations: [
              { key: "node-role.kubernetes.io/control-plane", effect: "NoSchedule", operator: "Exists" },
              { key: "node-role.kubernetes.io/master", effect: "NoSchedule", operator: "Exists" },
            ],
            nodeSelector: { "kubernetes.io/os": "linux" },
            terminationGracePeriodSeconds: 30,
            containers: [{
              name: "kreboot",
              image,
              imagePullPolicy: "IfNotPresent",
              args: daemonArgs(config, ns),
              env: [{ name: "KREBOOT_NODE_ID", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } }],
              ports: [{ name: "metrics", containerPort: port, protocol: "TCP" }],
              livenessProbe: {
                httpGet: { path: "/healthz", port: "metrics" },
                initialDelaySeconds: 10,
                periodSeconds: 30,
                timeoutSeconds: 5,
                failureThreshold: 3,
              },
              // Sized from bench/RESULTS.md (idle RSS of the daemon under `deno run`), with headroom for drains.
              resources: {
                requests: { cpu: "10m", memory: "96Mi" },
                limits: { memory: "256Mi" },
              },
              securityContext: { privileged: true, readOnlyRootFilesystem: true },
              volumeMounts: [
                { name: "sentinel", mountPath: SENTINEL_MOUNT, readOnly: true },
                { name: "tmp", mountPath: "/tmp" },
              ],
            }],
            volumes: [
              { name: "sentinel", hostPath: { path: sentinelDir, type: "Directory" } },
              { name: "tmp", emptyDir: { sizeLimit: "16Mi" } },
            ],
          },
        },
      },
    },
  ];
  if (opts.prometheusOperator) {
    objects.push(
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: meta({ namespace: ns }),
        spec: { selector: labels, ports: [{ name: "metrics", port, targetPort: "metrics" }] },
      },
      {
        apiVersion: "monitoring.coreos.com/v1",
        kind: "ServiceMonitor",
        metadata: meta({ namespace: ns }),
        spec: { selector: { matchLabels: labels }, endpoints: [{ port: "metrics", interval: "60s" }] },
      },
      {
        apiVersion: "monitoring.coreos.com/v1",
        kind: "PrometheusRule",
        metadata: meta({ namespace: ns }),
        spec: {
          groups: [{
            name: "kreboot",
            rules: [{
              alert: "RebootRequired",
              expr: "max(kured_reboot_required) != 0",
              for: "24h",
              labels: { severity: "warning" },
              annotations: {
                summary: "Machines in the cluster have needed a reboot for 24 hours",
                description:
                  "kreboot has not rebooted them yet: check `kreboot status` for what blocks them.",
              },
            }],
          }],
        },
      },
    );
  }
  return objects;
}

export function renderManifests(config: Config, opts: ManifestOptions): string {
  const header =
    `# Generated by \`kreboot manifests\` (kreboot ${denoJson.version}). Do not edit: regenerate.\n`;
  return header +
    manifestObjects(config, opts).map((o) => `---\n${dumpYaml(o, { lineWidth: -1, noRefs: true })}`).join("")
      .trimEnd();
}
