/**
 * Watches against a scripted loopback server: lines split across chunks, bookmarks moving the resume point, a
 * stream the server ends resumed without a new list, 410 Gone (as an HTTP status or an ERROR event) listed
 * afresh, other errors retried with backoff, and the client-node-compatible `watch()` callbacks.
 */
import assert from "node:assert/strict";
import { apiStatus, makeKube, TransportError } from "../../../lib/kube/mod.ts";
import { Transport } from "../../../lib/kube/transport.ts";
import { Watch, watchEvents } from "../../../lib/kube/watch.ts";
import { event, FakeApiserver, openStream, type Seen, status, watchStream } from "./fake_apiserver.ts";

const strict = { sanitizeOps: true, sanitizeResources: true };
const PATH = "/apis/coordination.k8s.io/v1/namespaces/ns/leases";

function list(rv: string, names: string[]): Response {
  return Response.json({
    kind: "LeaseList",
    metadata: { resourceVersion: rv },
    items: names.map((name) => ({ metadata: { name, resourceVersion: rv } })),
  });
}

const isWatch = (r: Seen) => r.query.get("watch") === "true";

Deno.test("watchEvents: one event per line, whatever the chunking; torn or empty lines are skipped", async () => {
  const a = event("ADDED", "a", "2");
  const b = event("MODIFIED", "b", "3");
  const res = watchStream([a.slice(0, 10), a.slice(10) + b.slice(0, 5), b.slice(5) + "\n{not json\n", ""], 0);
  const got = [];
  for await (const ev of watchEvents(res)) {
    got.push(`${ev.type} ${(ev.object as { metadata: { name: string } }).metadata.name}`);
  }
  assert.deepEqual(got, ["ADDED a", "MODIFIED b"]);
});

Deno.test({
  name: "follow: lists once, watches with bookmarks, resumes where the server stopped",
  ...strict,
  fn: async () => {
    let watches = 0;
    await using api = await FakeApiserver.start((r) => {
      if (!isWatch(r)) return list("10", ["a"]);
      watches++;
      if (watches === 1) return watchStream([event("ADDED", "b", "11"), event("BOOKMARK", "", "15")]);
      if (watches === 2) return watchStream([event("DELETED", "a", "16")]);
      return openStream();
    });
    using kube = makeKube(api.credentials(), false);
    const seen: string[] = [];
    const ac = new AbortController();
    const done = kube.watch.follow<{ metadata: { name: string } }>({
      path: PATH,
      labelSelector: "app=x",
      timeoutSeconds: 30,
      onList: (items, rv) => seen.push(`LIST ${items.map((i) => i.metadata.name).join(",")} @${rv}`),
      onEvent: (type, obj) => seen.push(`${type} ${obj.metadata.name}`),
      signal: ac.signal,
    });
    while (watches < 3) await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    await done;
    assert.deepEqual(seen, ["LIST a @10", "ADDED b", "DELETED a"], "bookmarks are not events");
    const w = api.seen.filter(isWatch);
    assert.deepEqual(w.map((r) => r.query.get("resourceVersion")), ["10", "15", "16"]);
    assert.ok(
      w.every((r) =>
        r.query.get("allowWatchBookmarks") === "true" && r.query.get("labelSelector") === "app=x"
      ),
    );
    assert.ok(w.every((r) => r.query.get("timeoutSeconds") === "30"));
    assert.ok(
      w.every((r) => r.headers.get("accept-encoding") === "identity"),
      "a stream asks for no compression",
    );
    assert.equal(api.seen.filter((r) => !isWatch(r)).length, 1);
  },
});

Deno.test({
  name: "follow: 410 Gone, as a status or an ERROR event, lists afresh; other errors back off and retry",
  ...strict,
  fn: async () => {
    let watches = 0;
    let lists = 0;
    await using api = await FakeApiserver.start((r) => {
      if (!isWatch(r)) return list(String(++lists * 100), [`gen${lists}`]);
      watches++;
      if (watches === 1) return status(410, "Expired", "too old resource version: 5 (100)");
      if (watches === 2) {
        return watchStream([
          JSON.stringify({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired" } }),
        ]);
      }
      if (watches === 3) return status(500, "InternalError", "etcd is down");
      return openStream();
    });
    using kube = makeKube(api.credentials(), false);
    const lists_: string[] = [];
    const errors: { code: number | undefined; retryInMs: number }[] = [];
    const ac = new AbortController();
    const done = kube.watch.follow<{ metadata: { name: string } }>({
      path: PATH,
      resourceVersion: "5",
      onList: (items, rv) => lists_.push(`${items[0]?.metadata.name}@${rv}`),
      onEvent: () => {},
      onError: (e, retryInMs) => errors.push({ code: apiStatus(e), retryInMs }),
      signal: ac.signal,
    });
    while (watches < 4) await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    await done;
    assert.deepEqual(lists_, ["gen1@100", "gen2@200"], "each 410 leads to one fresh list");
    assert.deepEqual(errors, [{ code: 500, retryInMs: 500 }]);
    const rvs = api.seen.filter(isWatch).map((r) => r.query.get("resourceVersion"));
    assert.deepEqual(rvs, ["5", "100", "200", "200"], "the failed stream is retried from where it was");
  },
});

Deno.test({
  name: "watch(): client-node's callbacks: events, done(null) at the end, done(err) without rejecting",
  ...strict,
  fn: async () => {
    await using api = await FakeApiserver.start((r) =>
      r.path.endsWith("/forbidden")
        ? status(403, "Forbidden", "nodes is forbidden")
        : watchStream([event("ADDED", "a", "2"), event("BOOKMARK", "", "3")])
    );
    using kube = makeKube(api.credentials(), false);
    const got: string[] = [];
    const ended = Promise.withResolvers<unknown>();
    await kube.watch.watch(
      PATH,
      { fieldSelector: "metadata.name=a" },
      (type) => got.push(type),
      ended.resolve,
    );
    assert.equal(await ended.promise, null);
    assert.deepEqual(got, ["ADDED", "BOOKMARK"]);
    assert.equal(api.seen[0]?.query.get("watch"), "true");

    const failed = Promise.withResolvers<unknown>();
    await kube.watch.watch("/forbidden", {}, () => {}, failed.resolve);
    assert.equal(apiStatus(await failed.promise), 403);
  },
});

Deno.test({
  name:
    "watch(): asks for the server's default timeout explicitly, and cuts a stream that outlives its timeout",
  ...strict,
  fn: async () => {
    await using api = await FakeApiserver.start(() => openStream());
    const t = new Transport(api.credentials());
    try {
      const w = new Watch(t, { graceMs: 100 });
      const ended = Promise.withResolvers<unknown>();
      const started = performance.now();
      await w.watch(PATH, { timeoutSeconds: 1 }, () => {}, ended.resolve);
      const err = await ended.promise;
      assert.ok(err instanceof TransportError, String(err));
      assert.match(
        err.message,
        /^WATCH \/apis\/coordination.* on http:\/\/127\.0\.0\.1:\d+: no end of the stream/,
      );
      assert.ok(performance.now() - started >= 1_000);

      const quiet = Promise.withResolvers<unknown>();
      const ctl = await w.watch(PATH, {}, () => {}, quiet.resolve);
      ctl.abort();
      await quiet.promise;
      const asked = Number(api.seen.at(-1)?.query.get("timeoutSeconds"));
      assert.ok(asked >= 1800 && asked < 3600, `timeoutSeconds=${asked}`);
    } finally {
      t.close();
    }
  },
});
