import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { checkBlockingPods } from "../../../lib/gates/pods.ts";
import { makeKube } from "../../../lib/kube/mod.ts";

const strict = { sanitizeOps: true, sanitizeResources: true };

interface Pod {
  ns: string;
  name: string;
  phase: string;
  node: string;
  labels: Record<string, string>;
}

/**
 * A fake apiserver answering only `GET /api/v1/pods`. It applies `spec.nodeName` and an equality label
 * selector itself and records the query, so the test checks both what was asked and what was done with the
 * answer.
 */
async function withApiserver(
  answer: (url: URL) => Response | undefined,
  pods: Pod[],
  fn: (kube: ReturnType<typeof makeKube>, queries: URLSearchParams[]) => Promise<void>,
): Promise<void> {
  const queries: URLSearchParams[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const url = new URL(req.url);
    if (url.pathname !== "/api/v1/pods") return new Response("not found", { status: 404 });
    queries.push(url.searchParams);
    const special = answer(url);
    if (special) return special;
    const node = /spec\.nodeName=([^,]+)/.exec(url.searchParams.get("fieldSelector") ?? "")?.[1];
    const [k, v] = (url.searchParams.get("labelSelector") ?? "").split("=");
    const items = pods
      .filter((p) => p.node === node && k !== undefined && p.labels[k] === v)
      .map((p) => ({
        metadata: { name: p.name, namespace: p.ns, labels: p.labels },
        spec: { nodeName: p.node, containers: [] },
        status: { phase: p.phase },
      }));
    return Response.json({ kind: "PodList", apiVersion: "v1", metadata: { resourceVersion: "1" }, items });
  });
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "fake", server: `http://127.0.0.1:${server.addr.port}`, skipTLSVerify: true }],
    users: [{ name: "fake", token: "t" }],
    contexts: [{ name: "fake", cluster: "fake", user: "fake" }],
    currentContext: "fake",
  });
  try {
    await fn(makeKube(kc, false), queries);
  } finally {
    await server.shutdown();
  }
}

const PODS: Pod[] = [
  { ns: "db", name: "backup-1", phase: "Running", node: "n1", labels: { app: "backup" } },
  { ns: "db", name: "backup-2", phase: "Pending", node: "n1", labels: { app: "backup" } },
  { ns: "db", name: "backup-old", phase: "Succeeded", node: "n1", labels: { app: "backup" } },
  { ns: "db", name: "backup-n2", phase: "Running", node: "n2", labels: { app: "backup" } },
  { ns: "ci", name: "build-x", phase: "Failed", node: "n1", labels: { app: "build" } },
  { ns: "ci", name: "build-y", phase: "Unknown", node: "n1", labels: { app: "build" } },
];

Deno.test({
  name: "pods: no selectors is clear and asks nothing",
  ...strict,
  fn: () =>
    withApiserver(() => undefined, PODS, async (kube, queries) => {
      assert.deepEqual(await checkBlockingPods(kube, "n1", []), { clear: true });
      assert.equal(queries.length, 0);
    }),
});

Deno.test({
  name: "pods: running and pending pods on this node block, named with namespace and phase",
  ...strict,
  fn: () =>
    withApiserver(() => undefined, PODS, async (kube, queries) => {
      assert.deepEqual(await checkBlockingPods(kube, "n1", ["app=backup"]), {
        clear: false,
        reason: "pod",
        message: `blocked by pods matching "app=backup": db/backup-1 (Running), db/backup-2 (Pending)`,
      });
      assert.equal(queries.length, 1);
      assert.equal(
        queries[0]?.get("fieldSelector"),
        "spec.nodeName=n1,status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown",
      );
      assert.equal(queries[0]?.get("labelSelector"), "app=backup");
      assert.equal(queries[0]?.get("limit"), "10");
    }),
});

Deno.test({
  name: "pods: finished or unknown pods and pods on other nodes do not block; selectors are ORed in order",
  ...strict,
  fn: () =>
    withApiserver(() => undefined, PODS, async (kube, queries) => {
      // build-* are Failed/Unknown (the fake ignores the phase part of the field selector on purpose).
      assert.deepEqual(await checkBlockingPods(kube, "n1", ["app=build", "app=none"]), { clear: true });
      assert.deepEqual(queries.map((q) => q.get("labelSelector")), ["app=build", "app=none"]);
      assert.deepEqual(await checkBlockingPods(kube, "n2", ["app=build", "app=backup"]), {
        clear: false,
        reason: "pod",
        message: `blocked by pod matching "app=backup": db/backup-n2 (Running)`,
      });
      assert.deepEqual(await checkBlockingPods(kube, "n3", ["app=backup"]), { clear: true });
    }),
});

Deno.test({
  name: "pods: a truncated list says there are more",
  ...strict,
  fn: () =>
    withApiserver(
      () =>
        Response.json({
          kind: "PodList",
          apiVersion: "v1",
          metadata: { resourceVersion: "1", continue: "token" },
          items: [{ metadata: { name: "p0", namespace: "a" }, status: { phase: "Running" } }],
        }),
      [],
      async (kube) => {
        const r = await checkBlockingPods(kube, "n1", ["x=y"]);
        assert.ok(!r.clear);
        assert.equal(r.message, `blocked by pods matching "x=y": a/p0 (Running) and more`);
      },
    ),
});

Deno.test({
  name: "pods: an API error blocks (fail safe) with the error",
  ...strict,
  fn: () =>
    withApiserver(
      () =>
        Response.json(
          {
            kind: "Status",
            apiVersion: "v1",
            status: "Failure",
            reason: "Forbidden",
            message:
              `pods is forbidden: User "system:serviceaccount:kube-system:kreboot" cannot list resource "pods"`,
            code: 403,
          },
          { status: 403 },
        ),
      [],
      async (kube) => {
        const r = await checkBlockingPods(kube, "n1", ["app=backup"]);
        assert.ok(!r.clear);
        assert.equal(r.reason, "pod");
        assert.match(
          r.message,
          /^cannot list pods matching "app=backup" on node n1, so reboots are blocked to be safe: HTTP 403 Forbidden: pods is forbidden/,
        );
      },
    ),
});

Deno.test({
  name: "pods: an unreachable apiserver blocks (fail safe)",
  ...strict,
  fn: async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    listener.close();
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "gone", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: "gone", token: "t" }],
      contexts: [{ name: "gone", cluster: "gone", user: "gone" }],
      currentContext: "gone",
    });
    const r = await checkBlockingPods(makeKube(kc, false), "n1", ["app=backup"]);
    assert.ok(!r.clear);
    assert.equal(r.reason, "pod");
    assert.match(
      r.message,
      /^cannot list pods matching "app=backup" on node n1, so reboots are blocked to be safe: .*(ECONNREFUSED|refused)/i,
    );
    // An unreachable API server is retried soon, not a whole --period later.
    assert.ok(r.retryAtMs !== undefined && r.retryAtMs - Date.now() <= 10_000, `retryAtMs ${r.retryAtMs}`);
  },
});
