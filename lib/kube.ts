/**
 * The Kubernetes port: one place that loads credentials, builds the API clients and classifies API errors.
 * Other modules take a `Kube` and never construct clients themselves, so tests can point them at the harness
 * apiserver with a ServiceAccount kubeconfig.
 */
import * as k8s from "@kubernetes/client-node";
import { existsSync } from "node:fs";
import { findKubeConfig } from "./kube/find_config.ts";

export interface Kube {
  readonly kc: k8s.KubeConfig;
  readonly core: k8s.CoreV1Api;
  readonly coord: k8s.CoordinationV1Api;
  readonly apps: k8s.AppsV1Api;
  readonly policy: k8s.PolicyV1Api;
  readonly events: k8s.EventsV1Api;
  readonly watch: k8s.Watch;
  /** True when every write must go with `dryRun=All`. */
  readonly dryRun: boolean;
}

/**
 * Credentials in kreboot's order: an explicit `--kubeconfig`, else in-cluster, else `$KUBECONFIG`,
 * else `~/.kube/config`. Finding none is a `ConfigError` naming them all (lib/kube/find_config.ts).
 */
export function loadKubeConfig(path: string | undefined): k8s.KubeConfig {
  const source = findKubeConfig(path, { env: Deno.env, exists: existsSync });
  const kc = new k8s.KubeConfig();
  if (source.kind === "flag") kc.loadFromFile(source.path);
  else if (source.kind === "in-cluster") kc.loadFromCluster();
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) {
    throw new Error(
      "no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a pod with a ServiceAccount",
    );
  }
  return kc;
}

export function makeKube(kc: k8s.KubeConfig, dryRun: boolean): Kube {
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    coord: kc.makeApiClient(k8s.CoordinationV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    policy: kc.makeApiClient(k8s.PolicyV1Api),
    events: kc.makeApiClient(k8s.EventsV1Api),
    watch: new k8s.Watch(kc),
    dryRun,
  };
}

/** The `dryRun` query parameter for a write, present only in dry-run mode. */
export function dryRunParam(kube: Pick<Kube, "dryRun">): { dryRun?: string } {
  return kube.dryRun ? { dryRun: "All" } : {};
}

/** Request options for a JSON merge patch (client-node defaults to JSON Patch otherwise). */
export const MERGE_PATCH = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
export const JSON_PATCH = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch);
export const STRATEGIC_MERGE_PATCH = k8s.setHeaderOptions(
  "Content-Type",
  k8s.PatchStrategy.StrategicMergePatch,
);

/** The HTTP status of a failed API call, or undefined for transport errors. */
export function apiStatus(e: unknown): number | undefined {
  if (e instanceof k8s.ApiException) return e.code;
  if (typeof e === "object" && e !== null && "code" in e && typeof e.code === "number") return e.code;
  return undefined;
}

/** The decoded `Status` body of a failed API call (client-node gives it as a raw string). */
export function apiStatusBody(e: unknown): { reason?: string; message?: string; details?: unknown } {
  if (!(e instanceof k8s.ApiException)) return {};
  const body: unknown = e.body;
  if (typeof body === "object" && body !== null) return body as { reason?: string; message?: string };
  if (typeof body !== "string") return {};
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === "object" && parsed !== null
      ? parsed as { reason?: string; message?: string }
      : {};
  } catch {
    return { message: body };
  }
}

export function isConflict(e: unknown): boolean {
  return apiStatus(e) === 409;
}
export function isNotFound(e: unknown): boolean {
  return apiStatus(e) === 404;
}

/** Seconds from a `Retry-After` header of a failed call, if any. */
export function retryAfterSeconds(e: unknown): number | undefined {
  if (!(e instanceof k8s.ApiException)) return undefined;
  const headers = e.headers as Record<string, string> | undefined;
  const raw = headers?.["retry-after"] ?? headers?.["Retry-After"];
  const n = raw === undefined ? NaN : Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** One line describing a failed API call, for logs and errors. */
export function describeApiError(e: unknown): string {
  const status = apiStatus(e);
  if (status !== undefined) {
    const body = apiStatusBody(e);
    return `HTTP ${status}${body.reason ? ` ${body.reason}` : ""}: ${body.message ?? String(e)}`;
  }
  return e instanceof Error ? e.message : String(e);
}

/** A MicroTime as the apiserver wants it: exactly six fractional digits. */
export function microTime(d: Date): k8s.V1MicroTime {
  return new k8s.V1MicroTime(d.getTime());
}
