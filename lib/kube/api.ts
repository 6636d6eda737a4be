/**
 * The API calls kreboot makes, and only those, with the method names and request objects of
 * `@kubernetes/client-node`'s object-parameter API (so call sites read the same) and its types (`import type`:
 * nothing of it runs). Answers are the apiserver's JSON as is: date fields stay strings (RFC 3339), whatever
 * the client-node type says; readers take both (see `deletionTime` in lib/drain/pods.ts).
 */
import type * as k8s from "@kubernetes/client-node";
import type { PatchType, Query, Transport } from "./transport.ts";

/** Request fields that are not query parameters. */
const NOT_QUERY = new Set(["name", "namespace", "body"]);

/** The query string of a client-node request object: every other field, `_continue` spelled `continue`. */
export function queryOf(p: object | undefined): Query {
  const q: Query = {};
  for (const [k, v] of Object.entries(p ?? {})) {
    if (NOT_QUERY.has(k) || v === undefined || v === null) continue;
    q[k === "_continue" ? "continue" : k] = v as string | number | boolean;
  }
  return q;
}

/**
 * A list answer with `metadata.continue` also under client-node's name `_continue` (its models rename the
 * field, and kreboot's paging reads that name).
 */
async function list<L extends { metadata?: { _continue?: string } }>(answer: Promise<L>): Promise<L> {
  const l = await answer;
  const meta = l.metadata as { continue?: unknown; _continue?: string } | undefined;
  if (meta && typeof meta.continue === "string" && meta.continue !== "") meta._continue = meta.continue;
  return l;
}

function seg(s: string): string {
  if (s === "") throw new Error("an API object name or namespace is empty");
  return encodeURIComponent(s);
}

export class CoreV1 {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  readNode(p: k8s.CoreV1ApiReadNodeRequest): Promise<k8s.V1Node> {
    return this.#t.json({ method: "GET", path: `/api/v1/nodes/${seg(p.name)}`, query: queryOf(p) });
  }
  listNode(p: k8s.CoreV1ApiListNodeRequest = {}): Promise<k8s.V1NodeList> {
    return list(this.#t.json({ method: "GET", path: "/api/v1/nodes", query: queryOf(p) }));
  }
  patchNode(p: k8s.CoreV1ApiPatchNodeRequest, type: PatchType): Promise<k8s.V1Node> {
    return this.#t.json({
      method: "PATCH",
      path: `/api/v1/nodes/${seg(p.name)}`,
      query: queryOf(p),
      body: p.body,
      contentType: type,
    });
  }
  patchNodeStatus(p: k8s.CoreV1ApiPatchNodeStatusRequest, type: PatchType): Promise<k8s.V1Node> {
    return this.#t.json({
      method: "PATCH",
      path: `/api/v1/nodes/${seg(p.name)}/status`,
      query: queryOf(p),
      body: p.body,
      contentType: type,
    });
  }
  listPodForAllNamespaces(p: k8s.CoreV1ApiListPodForAllNamespacesRequest = {}): Promise<k8s.V1PodList> {
    return list(this.#t.json({ method: "GET", path: "/api/v1/pods", query: queryOf(p) }));
  }
  readNamespacedPod(p: k8s.CoreV1ApiReadNamespacedPodRequest): Promise<k8s.V1Pod> {
    return this.#t.json({
      method: "GET",
      path: `/api/v1/namespaces/${seg(p.namespace)}/pods/${seg(p.name)}`,
      query: queryOf(p),
    });
  }
  deleteNamespacedPod(p: k8s.CoreV1ApiDeleteNamespacedPodRequest): Promise<k8s.V1Pod> {
    return this.#t.json({
      method: "DELETE",
      path: `/api/v1/namespaces/${seg(p.namespace)}/pods/${seg(p.name)}`,
      query: queryOf(p),
      body: p.body,
    });
  }
  createNamespacedPodEviction(p: k8s.CoreV1ApiCreateNamespacedPodEvictionRequest): Promise<k8s.V1Eviction> {
    return this.#t.json({
      method: "POST",
      path: `/api/v1/namespaces/${seg(p.namespace)}/pods/${seg(p.name)}/eviction`,
      query: queryOf(p),
      body: p.body,
    });
  }
}

export class CoordinationV1 {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  #path(namespace: string, name?: string): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${seg(namespace)}/leases${
      name === undefined ? "" : `/${seg(name)}`
    }`;
  }
  listNamespacedLease(p: k8s.CoordinationV1ApiListNamespacedLeaseRequest): Promise<k8s.V1LeaseList> {
    return list(this.#t.json({ method: "GET", path: this.#path(p.namespace), query: queryOf(p) }));
  }
  createNamespacedLease(p: k8s.CoordinationV1ApiCreateNamespacedLeaseRequest): Promise<k8s.V1Lease> {
    return this.#t.json({ method: "POST", path: this.#path(p.namespace), query: queryOf(p), body: p.body });
  }
  patchNamespacedLease(
    p: k8s.CoordinationV1ApiPatchNamespacedLeaseRequest,
    type: PatchType,
  ): Promise<k8s.V1Lease> {
    return this.#t.json({
      method: "PATCH",
      path: this.#path(p.namespace, p.name),
      query: queryOf(p),
      body: p.body,
      contentType: type,
    });
  }
  deleteNamespacedLease(p: k8s.CoordinationV1ApiDeleteNamespacedLeaseRequest): Promise<k8s.V1Status> {
    return this.#t.json({
      method: "DELETE",
      path: this.#path(p.namespace, p.name),
      query: queryOf(p),
      body: p.body,
    });
  }
}

export class AppsV1 {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  readNamespacedDaemonSet(p: k8s.AppsV1ApiReadNamespacedDaemonSetRequest): Promise<k8s.V1DaemonSet> {
    return this.#t.json({
      method: "GET",
      path: `/apis/apps/v1/namespaces/${seg(p.namespace)}/daemonsets/${seg(p.name)}`,
      query: queryOf(p),
    });
  }

  /** The post-reboot health gate reads the evicted pods' owners back (lib/safety/recovery.ts). */
  readNamespacedReplicaSet(p: k8s.AppsV1ApiReadNamespacedReplicaSetRequest): Promise<k8s.V1ReplicaSet> {
    return this.#t.json({
      method: "GET",
      path: `/apis/apps/v1/namespaces/${seg(p.namespace)}/replicasets/${seg(p.name)}`,
      query: queryOf(p),
    });
  }

  readNamespacedStatefulSet(p: k8s.AppsV1ApiReadNamespacedStatefulSetRequest): Promise<k8s.V1StatefulSet> {
    return this.#t.json({
      method: "GET",
      path: `/apis/apps/v1/namespaces/${seg(p.namespace)}/statefulsets/${seg(p.name)}`,
      query: queryOf(p),
    });
  }
}

export class PolicyV1 {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  listPodDisruptionBudgetForAllNamespaces(
    p: k8s.PolicyV1ApiListPodDisruptionBudgetForAllNamespacesRequest = {},
  ): Promise<k8s.V1PodDisruptionBudgetList> {
    return list(
      this.#t.json({ method: "GET", path: "/apis/policy/v1/poddisruptionbudgets", query: queryOf(p) }),
    );
  }
}

export class EventsV1 {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  #path(namespace: string, name?: string): string {
    return `/apis/events.k8s.io/v1/namespaces/${seg(namespace)}/events${
      name === undefined ? "" : `/${seg(name)}`
    }`;
  }
  createNamespacedEvent(p: k8s.EventsV1ApiCreateNamespacedEventRequest): Promise<k8s.EventsV1Event> {
    return this.#t.json({ method: "POST", path: this.#path(p.namespace), query: queryOf(p), body: p.body });
  }
  patchNamespacedEvent(
    p: k8s.EventsV1ApiPatchNamespacedEventRequest,
    type: PatchType,
  ): Promise<k8s.EventsV1Event> {
    return this.#t.json({
      method: "PATCH",
      path: this.#path(p.namespace, p.name),
      query: queryOf(p),
      body: p.body,
      contentType: type,
    });
  }
}

export class AuthenticationV1 {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  createSelfSubjectReview(
    p: k8s.AuthenticationV1ApiCreateSelfSubjectReviewRequest,
  ): Promise<k8s.V1SelfSubjectReview> {
    return this.#t.json({
      method: "POST",
      path: "/apis/authentication.k8s.io/v1/selfsubjectreviews",
      query: queryOf(p),
      body: p.body,
    });
  }
}
