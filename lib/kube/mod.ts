/**
 * The Kubernetes port: one place that loads credentials, builds the API clients and classifies API errors.
 * Other modules take a `Kube` and never construct clients themselves, so tests can point them at the harness
 * apiserver with a ServiceAccount kubeconfig.
 *
 * Behind it is a small transport on the platform's fetch (./transport.ts), not client-node's generated
 * clients: kreboot runs on every node, and those clients are most of a daemon's memory (issue 17). client-node
 * stays the source of credentials (its kubeconfig parsers and authenticators, ./credentials.ts) and of the
 * object types.
 */
import type * as k8s from "@kubernetes/client-node";
import { AppsV1, AuthenticationV1, CoordinationV1, CoreV1, EventsV1, PolicyV1 } from "./api.ts";
import { Credentials, type CredentialSource } from "./credentials.ts";
import { existsSync } from "node:fs";
import { delimiter } from "node:path";
import { findKubeConfig } from "./find_config.ts";
import { type PatchType, Transport } from "./transport.ts";
import { Watch } from "./watch.ts";
export { resourceVersionOf } from "./watch.ts";

export {
  ApiError,
  apiStatus,
  apiStatusBody,
  describeApiError,
  isConflict,
  isNotFound,
  retryAfterSeconds,
  TransportError,
} from "./errors.ts";
export type { PatchType } from "./transport.ts";
export { Credentials, type CredentialSource } from "./credentials.ts";
export type { FollowOptions, WatchEvent } from "./watch.ts";
export type { AppsV1, AuthenticationV1, CoordinationV1, CoreV1, EventsV1, PolicyV1, Watch };

export interface Kube {
  /** Where credentials come from (a client-node `KubeConfig` also fits). */
  readonly kc: CredentialSource;
  readonly core: CoreV1;
  readonly coord: CoordinationV1;
  readonly apps: AppsV1;
  readonly policy: PolicyV1;
  readonly events: EventsV1;
  /** Who the caller is (`kreboot hold` records it); the daemon does not use it. */
  readonly auth: AuthenticationV1;
  readonly watch: Watch;
  /** True when every write must go with `dryRun=All`. */
  readonly dryRun: boolean;
}

/**
 * Credentials in kreboot's order: an explicit `--kubeconfig`, else in-cluster, else `$KUBECONFIG`,
 * else `~/.kube/config`. Finding none is a `ConfigError` naming them all (lib/kube/find_config.ts).
 */
export function loadKubeConfig(path: string | undefined): Credentials {
  const source = findKubeConfig(path, { env: Deno.env, exists: existsSync });
  const kc = source.kind === "flag"
    ? Credentials.fromFile(source.path)
    : source.kind === "in-cluster"
    ? Credentials.inCluster()
    : Credentials.fromFiles(source.path.split(delimiter).filter((f) => f !== ""));
  if (!kc.getCurrentCluster()) {
    throw new Error(
      "no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a pod with a ServiceAccount",
    );
  }
  return kc;
}

/**
 * The port for a kubeconfig. Disposing it closes its HTTP client (the daemon keeps it for its lifetime; tests
 * that check for leaked resources dispose it with `using`).
 */
export function makeKube(kc: CredentialSource, dryRun: boolean): Kube & Disposable {
  const t = new Transport(kc);
  return {
    [Symbol.dispose]: () => t.close(),
    kc,
    core: new CoreV1(t),
    coord: new CoordinationV1(t),
    apps: new AppsV1(t),
    policy: new PolicyV1(t),
    events: new EventsV1(t),
    auth: new AuthenticationV1(t),
    watch: new Watch(t),
    dryRun,
  };
}

/** The `dryRun` query parameter for a write, present only in dry-run mode. */
export function dryRunParam(kube: Pick<Kube, "dryRun">): { dryRun?: string } {
  return kube.dryRun ? { dryRun: "All" } : {};
}

/** The patch types, passed as the second argument of a `patch…` call. */
export const MERGE_PATCH: PatchType = "application/merge-patch+json";
export const JSON_PATCH: PatchType = "application/json-patch+json";
export const STRATEGIC_MERGE_PATCH: PatchType = "application/strategic-merge-patch+json";

/**
 * A MicroTime as the apiserver wants it: exactly six fractional digits (a plain Date serialises with three
 * and gets a 400). A Date, so it fits client-node's `V1MicroTime` type; JSON.stringify writes the six digits.
 */
class MicroTime extends Date {
  override toISOString(): string {
    return super.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
  }
}
export function microTime(d: Date): k8s.V1MicroTime {
  return new MicroTime(d.getTime());
}
