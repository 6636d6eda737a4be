/**
 * A recording stand-in for the few API calls lib/report makes (read/patch Node, patch nodes/status, create and
 * patch Events). Each call is recorded in order; `fail` makes the next calls of a method throw an
 * ApiException with the given status.
 */
import type * as k8s from "@kubernetes/client-node";
import { ApiError, type Kube } from "../../../lib/kube/mod.ts";

export interface Call {
  method: string;
  params: Record<string, unknown>;
  contentType?: string;
}

export interface FakeKube {
  kube: Kube;
  calls: Call[];
  node: k8s.V1Node;
  fail: Map<string, number>;
  /** Calls of one method. */
  of(method: string): Call[];
}

function contentTypeOf(options: unknown): string | undefined {
  // A patch call's second argument is its content type (MERGE_PATCH etc.).
  return typeof options === "string" ? options : undefined;
}

export function fakeKube(opts: { dryRun?: boolean; node?: k8s.V1Node } = {}): FakeKube {
  const calls: Call[] = [];
  const fail = new Map<string, number>();
  const state: { node: k8s.V1Node } = {
    node: opts.node ??
      { metadata: { name: "n1", uid: "uid-n1", annotations: {} }, status: { conditions: [] } },
  };
  const call = (method: string) => (params: Record<string, unknown>, options?: unknown) => {
    const ct = contentTypeOf(options);
    calls.push({ method, params, ...(ct ? { contentType: ct } : {}) });
    const status = fail.get(method);
    if (status !== undefined) {
      return Promise.reject(new ApiError(status, JSON.stringify({ reason: "Fake" }), {}, method));
    }
    if (method === "readNode") return Promise.resolve(structuredClone(state.node));
    return Promise.resolve(params.body ?? {});
  };
  const kube = {
    dryRun: opts.dryRun ?? false,
    core: {
      readNode: call("readNode"),
      patchNode: call("patchNode"),
      patchNodeStatus: call("patchNodeStatus"),
    },
    events: {
      createNamespacedEvent: call("createNamespacedEvent"),
      patchNamespacedEvent: call("patchNamespacedEvent"),
    },
  } as unknown as Kube;
  return {
    kube,
    calls,
    get node() {
      return state.node;
    },
    set node(n: k8s.V1Node) {
      state.node = n;
    },
    fail,
    of: (method: string) => calls.filter((c) => c.method === method),
  };
}
