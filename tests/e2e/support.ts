/**
 * Shared set-up for the daemon's end-to-end tests: install kreboot exactly as `kreboot manifests` renders it
 * (ServiceAccount, RBAC, the DaemonSet object), and hand out a kubeconfig for its ServiceAccount, so the daemon
 * under test has the generated RBAC and nothing more.
 */
import { manifestObjects } from "../../lib/cli/manifests.ts";
import { defaultConfig, parseConfig } from "../../lib/config/mod.ts";
import type { PlainObject, TestCluster } from "../harness/mod.ts";

export interface Install {
  namespace: string;
  dsName: string;
  kubeconfig: string;
  /** Daemon args that point at this install. */
  args: string[];
}

/** Applies the generated manifests for `--ds-name=<dsName>` (plus `flags`) and mints the SA's kubeconfig. */
export async function installKreboot(
  cluster: TestCluster,
  dsName: string,
  flags: string[] = [],
): Promise<Install> {
  const namespace = "kube-system";
  const args = [`--ds-name=${dsName}`, `--ds-namespace=${namespace}`];
  const { config } = parseConfig([...args, ...flags], {});
  await cluster.ensureNamespace(namespace);
  await cluster.applyObjects(
    manifestObjects(config, { namespace, image: "kreboot:e2e", prometheusOperator: false }) as PlainObject[],
  );
  const kubeconfig = await cluster.serviceAccountKubeconfig(namespace, dsName);
  return { namespace, dsName, kubeconfig, args };
}

export { defaultConfig };

/** Polls `check` until it returns a value, or fails with `what` after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}
