/**
 * Identities for the code under test: ServiceAccount kubeconfigs with TokenRequest tokens, and server-side apply
 * of plain objects (ClusterRoles, Roles, bindings, or anything else), so a daemon runs with exactly the RBAC a
 * test gives it.
 */
import * as k8s from "@kubernetes/client-node";
import type { TestKube as Kube } from "./full_kube.ts";
import { writeKubeconfig } from "./kubeconfig.ts";
import { ensureNamespace, ensureServiceAccount } from "./pods.ts";

export interface ServiceAccountKubeconfigOptions {
  /** Token lifetime; default 24 h (the apiserver minimum is 600 s). */
  expirationSeconds?: number;
}

/**
 * Creates the namespace and ServiceAccount if missing, mints a token through the TokenRequest API and writes a
 * kubeconfig for it into `dir`. Returns the kubeconfig path.
 */
export async function serviceAccountKubeconfig(
  kube: Kube,
  target: { dir: string; server: string; caPem: string },
  namespace: string,
  name: string,
  opts: ServiceAccountKubeconfigOptions = {},
): Promise<string> {
  await ensureNamespace(kube, namespace);
  await ensureServiceAccount(kube, namespace, name);
  const tr = await kube.core.createNamespacedServiceAccountToken({
    namespace,
    name,
    body: { spec: { audiences: [], expirationSeconds: opts.expirationSeconds ?? 86_400 } },
  });
  const token = tr.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
  await Deno.mkdir(`${target.dir}/kubeconfigs`, { recursive: true });
  return await writeKubeconfig(`${target.dir}/kubeconfigs/${namespace}.${name}.kubeconfig`, {
    server: target.server,
    caPem: target.caPem,
    token,
    name: `system:serviceaccount:${namespace}:${name}`,
  });
}

/** A Kubernetes object as a plain literal (apiVersion, kind and metadata.name are required). */
export type PlainObject = k8s.KubernetesObject & Record<string, unknown>;

/**
 * Server-side applies each object in order (field manager `kreboot-e2e`, forced), creating or updating it.
 * Works for any kind the apiserver serves; use it for RBAC objects and for the daemon's deploy manifests.
 */
export async function applyObjects(
  kube: Kube,
  objects: readonly PlainObject[],
): Promise<k8s.KubernetesObject[]> {
  const client = k8s.KubernetesObjectApi.makeApiClient(kube.kc);
  const applied: k8s.KubernetesObject[] = [];
  for (const obj of objects) {
    if (!obj.apiVersion || !obj.kind || !obj.metadata?.name) {
      throw new Error(
        `applyObjects: object needs apiVersion, kind and metadata.name: ${JSON.stringify(obj)}`,
      );
    }
    applied.push(
      await client.patch(obj, undefined, undefined, "kreboot-e2e", true, k8s.PatchStrategy.ServerSideApply),
    );
  }
  return applied;
}
