/**
 * The e2e test harness: a real kube-apiserver + etcd, simulated nodes, pods, kubelet and disruption controller,
 * and the daemon under test as a real process.
 *
 * ```ts
 * await using cluster = await startCluster();
 * await cluster.createNode("n1");
 * const kubeconfig = await cluster.serviceAccountKubeconfig("kube-system", "kreboot");
 * await cluster.applyObjects(rbacFor("kube-system", "kreboot"));
 * const d = await cluster.startDaemon("n1", { kubeconfig, args: ["--period=1s"] });
 * await d.setRebootRequired(true);
 * await d.waitForReboots(1);
 * ```
 * Disposal stops daemons and kubelets, then the control plane, even when the test failed.
 */
import type * as k8s from "@kubernetes/client-node";
import type { TestKube as Kube } from "./full_kube.ts";
import { ControlPlane, type ControlPlaneOptions } from "./controlplane.ts";
import { Daemon, type DaemonOptions } from "./daemon.ts";
import * as nodes from "./nodes.ts";
import * as pods from "./pods.ts";
import * as rbac from "./rbac.ts";

export {
  type AuditEvent,
  ControlPlane,
  controlPlaneBinDir,
  type ControlPlaneOptions,
  controlPlaneVersions,
  REPO_ROOT,
} from "./controlplane.ts";
export { Daemon, type DaemonLine, type DaemonOptions, type LineMatcher, type RebootHooks } from "./daemon.ts";
export type { NodeOptions } from "./nodes.ts";
export type { Kubelet, KubeletOptions, PodOptions, PodOwner, PodPhase } from "./pods.ts";
export { selectorString } from "./pods.ts";
export type { PlainObject, ServiceAccountKubeconfigOptions } from "./rbac.ts";
export { Proc } from "./proc.ts";

/** Path of the stand-in daemon (speaks the daemon's flags; for harness tests before main.ts exists). */
export const STANDIN_DAEMON = new URL("./standin_daemon.ts", import.meta.url).pathname;

export class TestCluster implements AsyncDisposable {
  readonly cp: ControlPlane;
  #daemons: Daemon[] = [];
  #kubelets: pods.Kubelet[] = [];

  constructor(cp: ControlPlane) {
    this.cp = cp;
  }

  /** Admin client (system:masters). */
  get kube(): Kube {
    return this.cp.kube;
  }

  createNode(name: string, opts: nodes.NodeOptions = {}): Promise<k8s.V1Node> {
    return nodes.createNode(this.kube, name, opts);
  }
  setNodeReady(name: string, ready: boolean): Promise<void> {
    return nodes.setNodeReady(this.kube, name, ready);
  }
  setBootID(name: string, bootID?: string): Promise<string> {
    return nodes.setBootID(this.kube, name, bootID);
  }
  getBootID(name: string): Promise<string> {
    return nodes.getBootID(this.kube, name);
  }
  isNodeReady(name: string): Promise<boolean> {
    return nodes.isNodeReady(this.kube, name);
  }
  deleteNode(name: string): Promise<void> {
    return nodes.deleteNode(this.kube, name);
  }

  ensureNamespace(namespace: string): Promise<void> {
    return pods.ensureNamespace(this.kube, namespace);
  }
  createPod(namespace: string, opts: pods.PodOptions): Promise<k8s.V1Pod> {
    return pods.createPod(this.kube, namespace, opts);
  }
  setPodPhase(namespace: string, name: string, phase: Exclude<pods.PodPhase, "Pending">): Promise<k8s.V1Pod> {
    return pods.setPodPhase(this.kube, namespace, name, phase);
  }
  createPdb(
    namespace: string,
    name: string,
    opts: { matchLabels: Record<string, string>; minAvailable?: number; maxUnavailable?: number },
  ): Promise<k8s.V1PodDisruptionBudget> {
    return pods.createPdb(this.kube, namespace, name, opts);
  }
  setPdbStatus(
    namespace: string,
    name: string,
    disruptionsAllowed: number,
  ): Promise<k8s.V1PodDisruptionBudget> {
    return pods.setPdbStatus(this.kube, namespace, name, disruptionsAllowed);
  }
  /** Starts a fake kubelet that finishes Terminating pods; stopped with the cluster at the latest. */
  startKubelet(opts: pods.KubeletOptions = {}): pods.Kubelet {
    const k = pods.startKubelet(this.kube, opts);
    this.#kubelets.push(k);
    return k;
  }

  serviceAccountKubeconfig(
    namespace: string,
    name: string,
    opts: rbac.ServiceAccountKubeconfigOptions = {},
  ): Promise<string> {
    return rbac.serviceAccountKubeconfig(
      this.kube,
      { dir: this.cp.dir, server: this.cp.url, caPem: this.cp.caPem },
      namespace,
      name,
      opts,
    );
  }
  /** Server-side applies plain objects (ClusterRole, RoleBinding, ... or any kind). */
  applyObjects(objects: readonly rbac.PlainObject[]): Promise<k8s.KubernetesObject[]> {
    return rbac.applyObjects(this.kube, objects);
  }

  /** Runs the daemon for `node` as a process with reboot simulation; stopped with the cluster at the latest. */
  async startDaemon(node: string, opts: DaemonOptions): Promise<Daemon> {
    const d = new Daemon(
      { kube: this.kube, dir: `${this.cp.dir}/nodes`, pidDir: this.cp.pidDir },
      node,
      opts,
    );
    this.#daemons.push(d);
    return await d.start();
  }

  restartApiserver(opts: { downMs?: number } = {}): Promise<void> {
    return this.cp.restartApiserver(opts);
  }

  async stop(): Promise<void> {
    const errors: unknown[] = [];
    const settle = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (e) {
        errors.push(e);
      }
    };
    await Promise.all(this.#daemons.map((d) => settle(d.stop())));
    await Promise.all(this.#kubelets.map((k) => settle(k.stop())));
    await settle(this.cp.stop());
    if (errors.length > 0) throw new AggregateError(errors, "stopping the test cluster failed");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Starts etcd + kube-apiserver (ready, admin client connected) and returns the harness facade. */
export async function startCluster(opts: ControlPlaneOptions = {}): Promise<TestCluster> {
  return new TestCluster(await ControlPlane.start(opts));
}
