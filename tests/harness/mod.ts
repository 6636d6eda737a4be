/**
 * The e2e test harness: a real kube-apiserver + etcd and the daemon under test as a real process, on one of two
 * clusters:
 * - `startCluster()`: the bare control plane; the harness plays kubelet (Ready nodes, Running pods, a fake
 *   kubelet finishing Terminating pods) and disruption controller (PDB status);
 * - `startCluster({ controllers: true })`: with kube-controller-manager, kube-scheduler and kwok
 *   (tests/harness/controllers.ts): Deployments, StatefulSets and DaemonSets get their pods from the real
 *   controllers, placed by the scheduler, run by kwok; PDB status comes from the disruption controller.
 *
 * ```ts
 * await using cluster = await startCluster({ controllers: true });
 * await cluster.createNode("n1", { pool: "web" });
 * await cluster.createDeployment("work", "web", { pool: "web", replicas: 2 });
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
import * as workloads from "./workloads.ts";

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
export { isReady, POOL_LABEL } from "./workloads.ts";
export type { BarePodOptions, PodTemplateOptions, WorkloadOptions } from "./workloads.ts";
export type { Kubelet, KubeletOptions, PodOptions, PodOwner, PodPhase } from "./pods.ts";
export { selectorString } from "./pods.ts";
export type { PlainObject, ServiceAccountKubeconfigOptions } from "./rbac.ts";
export { Proc } from "./proc.ts";

/** Path of the stand-in daemon (speaks the daemon's flags; for harness tests before main.ts exists). */
export const STANDIN_DAEMON = new URL("./standin_daemon.ts", import.meta.url).pathname;

export interface ClusterNodeOptions extends Omit<nodes.NodeOptions, "kwok"> {
  /** Label `kreboot.test/pool=<pool>`: workloads of that pool are scheduled here. */
  pool?: string;
}

export class TestCluster implements AsyncDisposable {
  readonly cp: ControlPlane;
  #daemons: Daemon[] = [];
  #kubelets: pods.Kubelet[] = [];
  #stopping = new AbortController();
  #reboots: nodes.RebootSimulation & { settled?(): Promise<void> };

  constructor(cp: ControlPlane) {
    this.cp = cp;
    this.#reboots = cp.controllers
      ? nodes.kwokReboots(cp.kube, this.#stopping.signal)
      : nodes.harnessReboots(cp.kube);
  }

  /** True on the cluster with kube-controller-manager, kube-scheduler and kwok. */
  get withControllers(): boolean {
    return this.cp.controllers !== undefined;
  }

  /** Admin client (system:masters). */
  get kube(): Kube {
    return this.cp.kube;
  }

  /** A Ready node (made Ready by kwok on the cluster with controllers). */
  createNode(name: string, opts: ClusterNodeOptions = {}): Promise<k8s.V1Node> {
    const { pool, ...rest } = opts;
    return nodes.createNode(this.kube, name, {
      ...rest,
      labels: { ...rest.labels, ...(pool ? { [workloads.POOL_LABEL]: pool } : {}) },
      kwok: this.withControllers,
    });
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
  /** Bare control plane: a pod with a stand-in owner and the status the harness writes. */
  createPod(namespace: string, opts: pods.PodOptions): Promise<k8s.V1Pod> {
    this.#tierZero("createPod", "createBarePod or a workload (createDeployment, ...)");
    return pods.createPod(this.kube, namespace, opts);
  }
  /** With controllers: a pod without owner bound to a node, run by kwok. */
  createBarePod(namespace: string, opts: workloads.BarePodOptions): Promise<k8s.V1Pod> {
    this.#withControllers("createBarePod");
    return workloads.createBarePod(this.kube, namespace, opts);
  }
  createDeployment(namespace: string, name: string, opts: workloads.WorkloadOptions = {}) {
    this.#withControllers("createDeployment");
    return workloads.createDeployment(this.kube, namespace, name, opts);
  }
  createStatefulSet(namespace: string, name: string, opts: workloads.WorkloadOptions = {}) {
    this.#withControllers("createStatefulSet");
    return workloads.createStatefulSet(this.kube, namespace, name, opts);
  }
  createDaemonSet(namespace: string, name: string, opts: workloads.PodTemplateOptions = {}) {
    this.#withControllers("createDaemonSet");
    return workloads.createDaemonSet(this.kube, namespace, name, opts);
  }
  livePods(namespace: string, labelSelector: string): Promise<k8s.V1Pod[]> {
    return workloads.livePods(this.kube, namespace, labelSelector);
  }
  waitForReadyPods(namespace: string, labelSelector: string, count: number, timeoutMs?: number) {
    return workloads.waitForReadyPods(this.kube, namespace, labelSelector, count, timeoutMs);
  }
  waitForDeployment(namespace: string, name: string, timeoutMs?: number) {
    return workloads.waitForDeployment(this.kube, namespace, name, timeoutMs);
  }
  /** Waits until the disruption controller says the PDB allows `disruptionsAllowed`. */
  waitForPdb(namespace: string, name: string, disruptionsAllowed: number, timeoutMs?: number) {
    this.#withControllers("waitForPdb");
    return workloads.waitForPdb(this.kube, namespace, name, disruptionsAllowed, timeoutMs);
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
  /** Bare control plane: writes the PDB status the disruption controller would. */
  setPdbStatus(
    namespace: string,
    name: string,
    disruptionsAllowed: number,
  ): Promise<k8s.V1PodDisruptionBudget> {
    this.#tierZero("setPdbStatus", "waitForPdb (the disruption controller writes it)");
    return pods.setPdbStatus(this.kube, namespace, name, disruptionsAllowed);
  }
  /** Bare control plane: a fake kubelet that finishes Terminating pods; stopped with the cluster at the latest. */
  startKubelet(opts: pods.KubeletOptions = {}): pods.Kubelet {
    this.#tierZero("startKubelet", "kwok (terminationSeconds for pods that stop slowly)");
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
      { reboots: this.#reboots, dir: `${this.cp.dir}/nodes`, pidDir: this.cp.pidDir },
      node,
      opts,
    );
    this.#daemons.push(d);
    return await d.start();
  }

  restartApiserver(opts: { downMs?: number; addArgs?: string[] } = {}): Promise<void> {
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
    this.#stopping.abort();
    await settle(this.#reboots.settled?.() ?? Promise.resolve());
    await settle(this.cp.stop());
    if (errors.length > 0) throw new AggregateError(errors, "stopping the test cluster failed");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** Harness stand-ins for controllers would fight the real ones: refuse them on that cluster. */
  #tierZero(what: string, instead: string): void {
    if (this.withControllers) {
      throw new Error(`${what}: the real controllers and kwok run on this cluster; use ${instead}`);
    }
  }
  #withControllers(what: string): void {
    if (!this.withControllers) throw new Error(`${what} needs startCluster({ controllers: true })`);
  }
}

/**
 * Starts etcd + kube-apiserver (and with `controllers: true` the controller-manager, scheduler and kwok), ready
 * and with the admin client connected, and returns the harness facade.
 */
export async function startCluster(opts: ControlPlaneOptions = {}): Promise<TestCluster> {
  return new TestCluster(await ControlPlane.start(opts));
}
