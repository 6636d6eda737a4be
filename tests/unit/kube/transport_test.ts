/**
 * The transport and the API groups against a scripted loopback server: what goes on the wire (method, path,
 * query, content type, body, token) and how answers are decoded (JSON, list continue tokens, Status bodies,
 * Retry-After, no answer at all).
 */
import assert from "node:assert/strict";
import {
  apiStatus,
  apiStatusBody,
  describeApiError,
  isConflict,
  JSON_PATCH,
  makeKube,
  MERGE_PATCH,
  retryAfterSeconds,
  STRATEGIC_MERGE_PATCH,
  TransportError,
} from "../../../lib/kube/mod.ts";
import { Transport } from "../../../lib/kube/transport.ts";
import { Credentials } from "../../../lib/kube/credentials.ts";
import { FakeApiserver, status } from "./fake_apiserver.ts";

const strict = { sanitizeOps: true, sanitizeResources: true };

Deno.test({
  name: "transport: the request on the wire for each kind of call",
  ...strict,
  fn: async () => {
    await using api = await FakeApiserver.start((r) =>
      r.method === "GET" && r.path === "/api/v1/pods"
        ? Response.json({
          kind: "PodList",
          metadata: { resourceVersion: "7", continue: "next-page" },
          items: [],
        })
        : Response.json({ kind: "Whatever", metadata: { name: "x" } })
    );
    using kube = makeKube(api.credentials(), false);
    const page = await kube.core.listPodForAllNamespaces({
      fieldSelector: "spec.nodeName=n1",
      limit: 50,
      _continue: "tok",
    });
    assert.equal(page.metadata?._continue, "next-page", "the continue token under client-node's name");
    await kube.core.patchNode(
      { name: "n1", body: { spec: { unschedulable: true } }, dryRun: "All" },
      MERGE_PATCH,
    );
    await kube.core.patchNodeStatus({ name: "n1", body: { status: {} } }, STRATEGIC_MERGE_PATCH);
    await kube.core.patchNode({ name: "n1", body: [{ op: "remove", path: "/x" }] }, JSON_PATCH);
    await kube.core.createNamespacedPodEviction({
      namespace: "ns",
      name: "p/1",
      body: { apiVersion: "policy/v1", kind: "Eviction" },
    });
    await kube.coord.deleteNamespacedLease({ namespace: "ns", name: "l", dryRun: "All" });

    const [list, merge, strategic, json, evict, del] = api.seen;
    assert.equal(list?.path, "/api/v1/pods");
    assert.deepEqual(Object.fromEntries(list!.query), {
      fieldSelector: "spec.nodeName=n1",
      limit: "50",
      continue: "tok",
    });
    assert.equal(list?.headers.get("authorization"), "Bearer fake-token");
    assert.equal(list?.headers.get("accept"), "application/json");
    assert.deepEqual([merge?.method, merge?.path, merge?.query.get("dryRun")], [
      "PATCH",
      "/api/v1/nodes/n1",
      "All",
    ]);
    assert.equal(merge?.headers.get("content-type"), "application/merge-patch+json");
    assert.deepEqual(JSON.parse(merge!.body), { spec: { unschedulable: true } });
    assert.equal(strategic?.path, "/api/v1/nodes/n1/status");
    assert.equal(strategic?.headers.get("content-type"), "application/strategic-merge-patch+json");
    assert.equal(json?.headers.get("content-type"), "application/json-patch+json");
    assert.deepEqual([evict?.method, evict?.path], ["POST", "/api/v1/namespaces/ns/pods/p%2F1/eviction"]);
    assert.equal(evict?.headers.get("content-type"), "application/json");
    assert.deepEqual(
      [del?.method, del?.path, del?.query.get("dryRun")],
      ["DELETE", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l", "All"],
    );
  },
});

Deno.test({
  name: "transport: a failed call keeps its status, Status body and Retry-After",
  ...strict,
  fn: async () => {
    await using api = await FakeApiserver.start((_r, n) =>
      n === 1
        ? status(
          429,
          "TooManyRequests",
          "Cannot evict pod as it would violate the pod's disruption budget.",
          {
            "Retry-After": "10",
          },
        )
        : status(409, "Conflict", 'Operation cannot be fulfilled on leases "l": the object has been modified')
    );
    using kube = makeKube(api.credentials(), false);
    const evict = await kube.core.createNamespacedPodEviction({ namespace: "ns", name: "p", body: {} }).catch(
      (
        e,
      ) => e,
    );
    assert.equal(apiStatus(evict), 429);
    assert.equal(retryAfterSeconds(evict), 10);
    assert.equal(apiStatusBody(evict).reason, "TooManyRequests");
    assert.equal(
      describeApiError(evict),
      "HTTP 429 TooManyRequests: Cannot evict pod as it would violate the pod's disruption budget.",
    );
    const conflict = await kube.coord.patchNamespacedLease(
      { namespace: "ns", name: "l", body: {} },
      MERGE_PATCH,
    )
      .catch((e) => e);
    assert.ok(isConflict(conflict));
    assert.equal(retryAfterSeconds(conflict), undefined);
  },
});

Deno.test({
  name: "transport: no answer is a TransportError naming the server; a hung call times out",
  ...strict,
  fn: async () => {
    // A port nothing listens on.
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = l.addr.port;
    l.close();
    const creds = new Credentials();
    creds.clusters = [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }];
    creds.users = [{ name: "u" }];
    creds.contexts = [{ name: "x", cluster: "c", user: "u" }];
    creds.currentContext = "x";
    using kube = makeKube(creds, false);
    const e = await kube.core.readNode({ name: "n1" }).catch((e) => e);
    assert.ok(e instanceof TransportError);
    assert.equal(apiStatus(e), undefined);
    assert.match(
      describeApiError(e),
      new RegExp(`^GET /api/v1/nodes/n1 on http://127\\.0\\.0\\.1:${port}: `),
    );

    let release = () => {};
    const held = new Promise<void>((r) => release = r);
    await using api = await FakeApiserver.start(async () => {
      await held;
      return Response.json({});
    });
    const t = new Transport(api.credentials(), { timeoutMs: 200 });
    const hung = await t.json({ method: "GET", path: "/api/v1/nodes" }).catch((e) => e);
    release();
    t.close();
    assert.ok(hung instanceof TransportError);
    assert.match(String(hung.message), /GET \/api\/v1\/nodes on http:\/\/127\.0\.0\.1:\d+: .*(time|abort)/i);
  },
});

Deno.test("transport: configurations kreboot cannot honour are refused with what to do", async () => {
  const creds = (server: string, skip: boolean) => {
    const c = new Credentials();
    c.clusters = [{ name: "c", server, skipTLSVerify: skip }];
    c.users = [{ name: "u" }];
    c.contexts = [{ name: "x", cluster: "c", user: "u" }];
    c.currentContext = "x";
    return c;
  };
  using insecure = makeKube(creds("https://127.0.0.1:6443", true), false);
  assert.match(
    describeApiError(await insecure.core.listNode().catch((e) => e)),
    /sets insecure-skip-tls-verify, which kreboot does not support: give its certificate-authority/,
  );
  using plain = makeKube(creds("http://127.0.0.1:8080", false), false);
  assert.match(
    describeApiError(await plain.core.listNode().catch((e) => e)),
    /plain HTTP .* needs insecure-skip/,
  );
});
