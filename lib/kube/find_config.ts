/**
 * Where the credentials come from, decided before any client is built. client-node's `loadFromDefault` falls
 * back to `http://localhost:8080` when it finds nothing, and every request then fails with "HTTP protocol is
 * not allowed when skipTLSVerify is not set or false", retried forever; finding nothing is a configuration
 * error instead, said once, naming every place that was looked at.
 */
import { ConfigError } from "../config/errors.ts";

/** client-node reads the ServiceAccount token from here for an in-cluster config. */
const IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

export type KubeConfigSource =
  /** `--kubeconfig` */
  | { kind: "flag"; path: string }
  /** The pod's ServiceAccount and the `KUBERNETES_SERVICE_*` variables. */
  | { kind: "in-cluster" }
  /** `$KUBECONFIG` (a list of files) or `~/.kube/config`: client-node's `loadFromDefault` reads them. */
  | { kind: "default"; path: string };

export interface FindOptions {
  env: { get(name: string): string | undefined };
  exists(path: string): boolean;
}

/** kreboot's order: `--kubeconfig`, else in-cluster, else `$KUBECONFIG`, else `~/.kube/config`; else throws. */
export function findKubeConfig(flag: string | undefined, o: FindOptions): KubeConfigSource {
  if (flag) return { kind: "flag", path: flag };
  const host = o.env.get("KUBERNETES_SERVICE_HOST");
  const port = o.env.get("KUBERNETES_SERVICE_PORT");
  const token = o.exists(IN_CLUSTER_TOKEN);
  if (host && port && token) return { kind: "in-cluster" };
  const list = o.env.get("KUBECONFIG");
  if (list) return { kind: "default", path: list };
  const home = o.env.get("HOME");
  const homeConfig = home ? `${home}/.kube/config` : undefined;
  if (homeConfig && o.exists(homeConfig)) return { kind: "default", path: homeConfig };
  const inCluster = host || port || token
    ? ` (in-cluster config is incomplete: ${
      [
        host ? "" : "KUBERNETES_SERVICE_HOST is not set",
        port ? "" : "KUBERNETES_SERVICE_PORT is not set",
        token ? "" : `no ServiceAccount token at ${IN_CLUSTER_TOKEN}`,
      ].filter(Boolean).join(", ")
    })`
    : "";
  throw new ConfigError(
    "kubeconfig",
    `no kubeconfig found: pass --kubeconfig=PATH, set $KUBECONFIG, or create ~/.kube/config; in a pod, kreboot uses its ServiceAccount (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT set, ` +
      `token at ${IN_CLUSTER_TOKEN})${inCluster}`,
  );
}
