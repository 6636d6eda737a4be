/**
 * The requests a drain makes about single pods: the eviction, the delete of a finished pod and the re-read,
 * each through the drain's shared in-flight limit and each honouring dry-run (`dryRun=All`).
 */
import type * as k8s from "@kubernetes/client-node";
import { dryRunParam, type Kube } from "../kube/mod.ts";
import type { Limiter } from "./limit.ts";

/** The parts of the Kubernetes port a drain uses. */
export type DrainKube = Pick<Kube, "core" | "policy" | "dryRun">;

export interface PodRef {
  namespace: string;
  name: string;
}

export class PodRequests {
  readonly kube: DrainKube;
  readonly limiter: Limiter;
  #gracePeriodSeconds: number;

  /** `gracePeriodSeconds` negative = each pod's own terminationGracePeriodSeconds. */
  constructor(kube: DrainKube, limiter: Limiter, gracePeriodSeconds: number) {
    this.kube = kube;
    this.limiter = limiter;
    this.#gracePeriodSeconds = gracePeriodSeconds;
  }

  #deleteOptions(): k8s.V1DeleteOptions {
    return {
      ...(this.#gracePeriodSeconds >= 0 ? { gracePeriodSeconds: this.#gracePeriodSeconds } : {}),
      ...(this.kube.dryRun ? { dryRun: ["All"] } : {}),
    };
  }

  /** POSTs a policy/v1 Eviction, so PodDisruptionBudgets are honoured. */
  evict(t: PodRef): Promise<k8s.V1Eviction> {
    return this.limiter.run(() =>
      this.kube.core.createNamespacedPodEviction({
        namespace: t.namespace,
        name: t.name,
        body: {
          apiVersion: "policy/v1",
          kind: "Eviction",
          metadata: { namespace: t.namespace, name: t.name },
          deleteOptions: this.#deleteOptions(),
        },
        ...dryRunParam(this.kube),
      })
    );
  }

  /** Deletes the pod; with `uid`, only that incarnation of it (a new pod with the same name answers 409). */
  delete(t: PodRef, uid?: string): Promise<unknown> {
    return this.limiter.run(() =>
      this.kube.core.deleteNamespacedPod({
        namespace: t.namespace,
        name: t.name,
        body: uid === undefined
          ? this.#deleteOptions()
          : { ...this.#deleteOptions(), preconditions: { uid } },
        ...dryRunParam(this.kube),
      })
    );
  }

  read(t: PodRef): Promise<k8s.V1Pod> {
    return this.limiter.run(() => this.kube.core.readNamespacedPod({ namespace: t.namespace, name: t.name }));
  }
}
