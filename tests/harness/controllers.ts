/**
 * The rest of a cluster around the harness's kube-apiserver: kube-controller-manager, kube-scheduler and kwok
 * (which plays the kubelet of every node annotated `kwok.x-k8s.io/node=fake`), each a process on loopback with
 * its own identity. With them, PDB status comes from the disruption controller, evicted pods come back through
 * their ReplicaSet and the scheduler, DaemonSets get their pods, and pods run and stop as kwok's stages
 * (tests/harness/kwok_stages.yaml) say.
 */
import type { TestKube as Kube } from "./full_kube.ts";
import { REPO_ROOT } from "./binaries.ts";
import { writeKubeconfig } from "./kubeconfig.ts";
import { tail } from "./proc.ts";
import { FatalProbeError, waitFor } from "./readiness.ts";
import { Supervised } from "./supervisor.ts";

/** The annotation kwok selects the nodes it manages by (`--manage-nodes-with-annotation-selector`). */
export const KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node";
export const KWOK_NODE_VALUE = "fake";

const KWOK_STAGES = `${REPO_ROOT}/tests/harness/kwok_stages.yaml`;

/**
 * The controllers the harness runs: the list (#14), plus the pod garbage collector (the pods of a
 * deleted Node go away and their ReplicaSets replace them, as in a real cluster). Not the
 * node-lifecycle controller: kwok renews node Leases, but a simulated reboot takes a node away from kwok, and
 * its taints and pod evictions would only add timing the tests do not ask for.
 */
export const CONTROLLERS = [
  "serviceaccount-controller",
  "serviceaccount-token-controller",
  "disruption-controller",
  "replicaset-controller",
  "deployment-controller",
  "statefulset-controller",
  "daemonset-controller",
  "garbage-collector-controller",
  "namespace-controller",
  "pod-garbage-collector-controller",
] as const;

/** The static-token identities of the three components (tokens.csv lines for the apiserver). */
export interface ComponentTokens {
  controllerManager: string;
  scheduler: string;
  kwok: string;
}

export function componentTokens(): ComponentTokens {
  return {
    controllerManager: crypto.randomUUID(),
    scheduler: crypto.randomUUID(),
    kwok: crypto.randomUUID(),
  };
}

/**
 * tokens.csv lines. The controller-manager and the scheduler are the users the apiserver's bootstrap RBAC
 * binds (system:kube-controller-manager, system:kube-scheduler); with --use-service-account-credentials each
 * controller then runs as its own ServiceAccount in kube-system, as kubeadm sets it up. kwok stands for every
 * kubelet at once, so it gets system:masters rather than the node authorizer's per-node identity.
 */
export function componentTokenLines(t: ComponentTokens): string {
  return [
    `${t.controllerManager},system:kube-controller-manager,system:kube-controller-manager`,
    `${t.scheduler},system:kube-scheduler,system:kube-scheduler`,
    `${t.kwok},kwok,kwok,"system:masters"`,
  ].join("\n") + "\n";
}

/** The first certificate of a PEM bundle that is not the leaf: the CA of the apiserver's self-signed pair. */
export function caOnly(bundle: string): string {
  const certs = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
  // client-go's self-signed serving pair is written leaf first, then its CA; a lone certificate is its own CA.
  const ca = certs.length > 1 ? certs[1] : certs[0];
  if (!ca) throw new Error("no certificate in the apiserver's certificate file");
  return ca.endsWith("\n") ? ca : `${ca}\n`;
}

export interface ControllersContext {
  /** The control plane's run directory (kubeconfigs, logs and pid files go below it). */
  dir: string;
  binDir: string;
  pidDir: string;
  url: string;
  /** The apiserver's certificate file content (leaf and CA). */
  caPem: string;
  /** The service-account signing key (PKCS#8 PEM file) the apiserver verifies tokens against. */
  serviceAccountKeyFile: string;
  tokens: ComponentTokens;
  /** Admin client, for the readiness checks. */
  kube: Kube;
  startTimeoutMs: number;
}

/**
 * kube-controller-manager, kube-scheduler and kwok, started and ready, and started again when one exits (see
 * tests/harness/supervisor.ts).
 */
export class Controllers {
  /** Milliseconds from spawning the three to both readiness checks passing. */
  startupMs = 0;
  readonly controllerManager: Supervised;
  readonly scheduler: Supervised;
  readonly kwok: Supervised;
  #ready = false;

  private constructor(procs: { controllerManager: Supervised; scheduler: Supervised; kwok: Supervised }) {
    this.controllerManager = procs.controllerManager;
    this.scheduler = procs.scheduler;
    this.kwok = procs.kwok;
  }

  static async start(ctx: ControllersContext): Promise<Controllers> {
    const t0 = performance.now();
    const kubeconfig = async (name: string, token: string) =>
      await writeKubeconfig(`${ctx.dir}/${name}.kubeconfig`, {
        server: ctx.url,
        caPem: ctx.caPem,
        token,
        name,
      });
    const rootCa = `${ctx.dir}/pki/ca.crt`;
    // What pods are told to trust (legacy token Secrets' ca.crt): the CA alone, not the apiserver's leaf-and-CA
    // file (kube-controller-manager only checks that the file parses as PEM, so it would take either).
    await Deno.writeTextFile(rootCa, caOnly(ctx.caPem));
    const spawn = (name: string, argv: string[]) =>
      new Supervised(name, { argv, logFile: `${ctx.dir}/logs/${name}.log`, pidDir: ctx.pidDir });
    const procs = {
      controllerManager: spawn("kube-controller-manager", [
        `${ctx.binDir}/kube-controller-manager`,
        `--kubeconfig=${await kubeconfig("kube-controller-manager", ctx.tokens.controllerManager)}`,
        "--use-service-account-credentials=true",
        `--controllers=${CONTROLLERS.join(",")}`,
        `--root-ca-file=${rootCa}`,
        `--service-account-private-key-file=${ctx.serviceAccountKeyFile}`,
        // One of them per cluster; leader election would only add the risk of losing the lease (and exiting)
        // while a chaos test keeps the apiserver down.
        "--leader-elect=false",
        // No serving port: nothing here scrapes it, and without a client CA on the apiserver there is no
        // extension-apiserver-authentication ConfigMap for its delegated authentication to read.
        "--secure-port=0",
        "--profiling=false",
      ]),
      scheduler: spawn("kube-scheduler", [
        `${ctx.binDir}/kube-scheduler`,
        `--kubeconfig=${await kubeconfig("kube-scheduler", ctx.tokens.scheduler)}`,
        "--leader-elect=false",
        "--secure-port=0",
        "--profiling=false",
      ]),
      kwok: spawn("kwok", [
        `${ctx.binDir}/kwok`,
        `--kubeconfig=${await kubeconfig("kwok", ctx.tokens.kwok)}`,
        `--config=${KWOK_STAGES}`,
        "--manage-all-nodes=false",
        `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=${KWOK_NODE_VALUE}`,
        // No node Leases: nothing here reads them (no node-lifecycle controller), and with them kwok would only
        // play a node's pods while it holds that node's Lease.
        "--node-lease-duration-seconds=0",
        "--node-ip=127.0.0.1",
        "--cidr=10.244.0.0/16",
      ]),
    };
    const c = new Controllers(procs);
    try {
      await c.#waitReady(ctx);
    } catch (e) {
      await c.stop();
      throw e;
    }
    c.#ready = true;
    c.startupMs = Math.round(performance.now() - t0);
    return c;
  }

  /**
   * Why the cluster is not to be trusted, with log tails: a component that exited before it was ready, or one
   * that keeps exiting; undefined while all is well.
   */
  failure(): string | undefined {
    const all = [this.controllerManager, this.scheduler, this.kwok];
    const problems = this.#ready
      ? all.map((c) => c.failure()).filter((f) => f !== undefined)
      : all.filter((c) => c.exits.length > 0).map((c) =>
        `${c.name} exited with code ${c.exits[0]?.code} while starting\n--- tail of ${c.logFile} ---\n${
          c.exits[0]?.tail
        }`
      );
    return problems.length > 0 ? problems.join("\n") : undefined;
  }

  /** Exits of the three (each was started again), for a test's log. */
  restarts(): string[] {
    return [this.controllerManager, this.scheduler, this.kwok].flatMap((c) =>
      c.exits.map((e) => `${c.name} exited with code ${e.code} at ${e.at.toISOString()}`)
    );
  }

  async #waitReady(ctx: ControllersContext): Promise<void> {
    const alive = () => {
      const f = this.failure();
      if (f) throw new FatalProbeError(f);
    };
    const kube = ctx.kube;
    // The ServiceAccount controller writes `default` once the controller-manager's informers are synced, i.e.
    // after every controller was started.
    await waitFor("kube-controller-manager", ctx.startTimeoutMs, async () => {
      alive();
      await kube.core.readNamespacedServiceAccount({ namespace: "default", name: "default" });
      return true;
    }, () => `--- tail of ${this.controllerManager.logFile} ---\n${tail(this.controllerManager.logFile)}`);
    // The scheduler answers a pod no node can take with PodScheduled=False: then it is scheduling.
    const probe = `scheduler-probe-${crypto.randomUUID().slice(0, 8)}`;
    await kube.core.createNamespacedPod({
      namespace: "default",
      body: {
        metadata: { name: probe },
        spec: {
          nodeSelector: { "kreboot.test/nowhere": "true" },
          containers: [{ name: "probe", image: "registry.invalid/pause:3.10" }],
          automountServiceAccountToken: false,
        },
      },
    });
    await waitFor("kube-scheduler", ctx.startTimeoutMs, async () => {
      alive();
      const pod = await kube.core.readNamespacedPod({ namespace: "default", name: probe });
      const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
      return scheduled?.status === "False" ? true : undefined;
    }, () => `--- tail of ${this.scheduler.logFile} ---\n${tail(this.scheduler.logFile)}`);
    await kube.core.deleteNamespacedPod({
      namespace: "default",
      name: probe,
      body: { gracePeriodSeconds: 0 },
    });
    alive();
  }

  /** Stops kwok, the scheduler and the controller-manager for good (SIGTERM, then SIGKILL). */
  async stop(): Promise<void> {
    await Promise.all([this.kwok.stop(), this.scheduler.stop(), this.controllerManager.stop()]);
  }
}
