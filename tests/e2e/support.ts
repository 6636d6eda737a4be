/**
 * Shared set-up for the daemon's end-to-end tests: install kreboot exactly as `kreboot manifests` renders it
 * (ServiceAccount, RBAC, the DaemonSet object), and hand out a kubeconfig for its ServiceAccount, so the daemon
 * under test has the generated RBAC and nothing more.
 */
import { loadAllYaml } from "@kubernetes/client-node";
import { renderManifests } from "../../lib/cli/manifests.ts";
import { parseConfig } from "../../lib/config/mod.ts";
import { LOCK_LABEL } from "../../lib/lock/slots.ts";
import { type Daemon, type PlainObject, REPO_ROOT, type TestCluster } from "../harness/mod.ts";

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

/** One sample of a daemon's /metrics (e.g. `kreboot_circuit_open{node="a"}`), undefined while it does not answer. */
export async function metricSample(d: Daemon, series: string): Promise<number | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${d.metricsPort}/metrics`, {
      signal: AbortSignal.timeout(2_000),
    });
    const line = (await r.text()).split("\n").find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  } catch {
    return undefined;
  }
}

/** A generic webhook on loopback that keeps the `message` of every notification it receives. */
export function notificationSink(): { messages: string[]; url: string } & AsyncDisposable {
  const messages: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    messages.push(String((await req.json()).message));
    return new Response("ok");
  });
  return {
    messages,
    url: `generic+http://127.0.0.1:${server.addr.port}/hook`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/**
 * A ValidatingAdmissionPolicy and its binding (both named `name`) that deny every eviction in `namespace`
 * with `message`, as a drain cleaner's webhook does (kured#1269).
 */
export function evictionDenyingPolicy(name: string, namespace: string, message: string): PlainObject[] {
  return [
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: {
          resourceRules: [{
            apiGroups: [""],
            apiVersions: ["v1"],
            operations: ["CREATE"],
            resources: ["pods/eviction"],
          }],
        },
        validations: [{ expression: "false", message }],
      },
    },
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name },
      spec: {
        policyName: name,
        validationActions: ["Deny"],
        matchResources: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } } },
      },
    },
  ];
}
