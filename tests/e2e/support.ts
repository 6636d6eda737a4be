/**
 * Shared set-up for the daemon's end-to-end tests: install kreboot exactly as `kreboot manifests` renders it
 * (ServiceAccount, RBAC, the DaemonSet object), and hand out a kubeconfig for its ServiceAccount, so the daemon
 * under test has the generated RBAC and nothing more.
 */
import { loadAllYaml } from "@kubernetes/client-node";
import { renderManifests } from "../../lib/cli/manifests.ts";
import { parseConfig } from "../../lib/config/mod.ts";
import { LOCK_LABEL } from "../../lib/lock/slots.ts";
import { type PlainObject, REPO_ROOT, type TestCluster } from "../harness/mod.ts";

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
  const yaml = renderManifests(config, { namespace, image: "kreboot:e2e", prometheusOperator: false });
  // loadAllYaml builds client-node model classes for known kinds; applyObjects wants plain JSON.
  await cluster.applyObjects(JSON.parse(JSON.stringify(loadAllYaml(yaml))) as PlainObject[]);
  const kubeconfig = await cluster.serviceAccountKubeconfig(namespace, dsName);
  return { namespace, dsName, kubeconfig, args };
}

/** Polls `check` every `everyMs` until it returns a value; fails naming `what` after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined> | T | undefined,
  everyMs = 200,
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
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** True when no slot Lease of this install names a holder. */
export async function slotsFree(
  cluster: TestCluster,
  dsName: string,
  namespace = "kube-system",
): Promise<boolean> {
  const list = await cluster.kube.coord.listNamespacedLease({
    namespace,
    labelSelector: `${LOCK_LABEL}=${dsName}`,
  });
  return list.items.every((l) => !l.spec?.holderIdentity);
}

export async function schedulable(cluster: TestCluster, node: string): Promise<boolean> {
  const n = await cluster.kube.core.readNode({ name: node });
  return n.spec?.unschedulable !== true;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI (`deno run main.ts …`) with `kubeconfig`, as an operator would. */
export async function runKreboot(kubeconfig: string, args: string[]): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO_ROOT}/main.ts`, ...args, `--kubeconfig=${kubeconfig}`],
    env: { NO_COLOR: "1" },
    stdin: "null",
    cwd: REPO_ROOT,
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
