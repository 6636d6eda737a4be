/**
 * `kreboot manifests`: the install YAML for the given settings. The daemon flags given to `manifests`
 * become the DaemonSet's args, so what an operator checks with `kreboot config` is what runs.
 *
 * The RBAC rules are exactly the calls the daemon makes (the e2e RBAC test compares them with the
 * apiserver's audit log): nothing is granted "just in case".
 */
// The deep import: the package index would bring all of client-node (exec, cp, port-forward, ...) into the bundle.
import { dumpYaml } from "@kubernetes/client-node/dist/yaml.js";
import denoJson from "../../deno.json" with { type: "json" };
import { type Config, configToArgs } from "../config/mod.ts";
import { daemonGrants, type Grant } from "../rbac.ts";

export interface ManifestOptions {
  namespace: string;
  /** "" = DEFAULT_IMAGE (not published yet: see `defaultImageNote`). */
  image: string;
  /** Adds a PrometheusRule (the RebootRequired alert) and a ServiceMonitor. */
  prometheusOperator: boolean;
}

const DEFAULT_IMAGE = `ghcr.io/kreboot/kreboot:${denoJson.version}`;

/** Said on stderr when the manifests name DEFAULT_IMAGE: nothing has been published under that name yet. */
export function defaultImageNote(): string {
  return `kreboot manifests: note: no image has been published as ${DEFAULT_IMAGE} yet; build and push one ` +
    "with the Containerfile and pass --image=<yours> (see README, Install)";
}

/** Where the sentinel file's host directory is mounted, as kured does (`/var/run` at `/sentinel`). */
const SENTINEL_MOUNT = "/sentinel";
const KURED_SENTINEL_HOST_DIR = "/var/run";

/**
 * Where the sentinel file lives: the host directory to mount and the path the daemon checks in the container.
 * The file is checked inside the container, so its directory is mounted from the host (kured#952, the
 * recurring "reboot not required although the file exists"). A path already under /sentinel (kured's own
 * manifests pass `--reboot-sentinel=/sentinel/reboot-required`) is taken as kured means it: host /var/run.
 * With --reboot-sentinel-command there is no file and nothing to mount.
 */
function sentinelMount(config: Config): { hostDir: string; containerPath: string } | undefined {
  if (config.rebootSentinelCommand.length > 0) return undefined;
  const path = config.rebootSentinel;
  if (path.startsWith(`${SENTINEL_MOUNT}/`)) return { hostDir: KURED_SENTINEL_HOST_DIR, containerPath: path };
  const cut = path.lastIndexOf("/");
  const hostDir = cut <= 0 ? "/" : path.slice(0, cut);
  return { hostDir, containerPath: `${SENTINEL_MOUNT}/${path.slice(cut + 1)}` };
}

/**
 * The daemon's args: every non-default flag, with the sentinel path as mounted in the container. The node
 * name comes from the environment (spec.nodeName), the credentials from the ServiceAccount.
 */
function daemonArgs(config: Config, namespace: string): string[] {
  const mount = sentinelMount(config);
  const c: Config = {
    ...config,
    nodeId: "",
    kubeconfig: "",
    dsNamespace: namespace,
    ...(mount ? { rebootSentinel: mount.containerPath } : {}),
  };
  return configToArgs(c);
}

/** The Role (or ClusterRole) and binding names: the DaemonSet's name, suffixed outside its namespace. */
function roleName(name: string, grant: Grant, namespace: string): string {
  return grant.namespace === undefined || grant.namespace === namespace ? name : `${name}-${grant.namespace}`;
}

function rbacObjects(name: string, ns: string, labels: Record<string, string>): Record<string, unknown>[] {
  const subjects = [{ kind: "ServiceAccount", name, namespace: ns }];
  return daemonGrants(name, ns).flatMap((grant) => {
    const rname = roleName(name, grant, ns);
    const cluster = grant.namespace === undefined;
    const metadata = cluster ? { name: rname, labels } : { name: rname, namespace: grant.namespace, labels };
    const kind = cluster ? "ClusterRole" : "Role";
    return [
      { apiVersion: "rbac.authorization.k8s.io/v1", kind, metadata, rules: grant.rules },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: `${kind}Binding`,
        metadata,
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind, name: rname },
        subjects,
      },
    ];
  });
}

function manifestObjects(config: Config, opts: ManifestOptions): Record<string, unknown>[] {
  const ns = opts.namespace;
  const name = config.dsName;
  const labels = { "app.kubernetes.io/name": "kreboot", "app.kubernetes.io/instance": name };
  const meta = (extra: Record<string, unknown> = {}) => ({ name, labels, ...extra });
  const image = opts.image || DEFAULT_IMAGE;
  const port = config.metricsPort;
  const sentinel = sentinelMount(config);
  const objects: Record<string, unknown>[] = [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: meta({ namespace: ns }) },
    ...rbacObjects(name, ns, labels),
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
              // Measured with deploy/measure_resources.ts (one daemon in the shipped form, the bundle, two
              // runs): idle RSS after 60 s 70-71 MiB; peak during a drain of 50 pods 80-83 MiB (VmHWM). The
              // request is the idle figure rounded up; the limit leaves ~1.8x the drain peak for larger drains
              // and V8's heap growth. CPU is near zero between checks; no CPU limit, so a drain is never
              // throttled.
              resources: {
                requests: { cpu: "10m", memory: "80Mi" },
                limits: { memory: "160Mi" },
              },
              securityContext: { privileged: true, readOnlyRootFilesystem: true },
              volumeMounts: [
                ...(sentinel ? [{ name: "sentinel", mountPath: SENTINEL_MOUNT, readOnly: true }] : []),
                { name: "tmp", mountPath: "/tmp" },
              ],
            }],
            volumes: [
              ...(sentinel
                ? [{ name: "sentinel", hostPath: { path: sentinel.hostDir, type: "Directory" } }]
                : []),
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
    manifestObjects(config, opts).map((o) =>
      `---\n${dumpYaml(o, { lineWidth: -1, noRefs: true, quotingType: '"' })}`
    ).join("")
      .trimEnd();
}
