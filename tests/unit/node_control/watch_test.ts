import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import type { Kube } from "../../../lib/kube/mod.ts";
import { Logger } from "../../../lib/log.ts";
import {
  clearRequestAfterReboot,
  encodeHold,
  encodeRequest,
  HOLD_ANNOTATION,
  NodeControlWatch,
  type NodeLike,
  REQUEST_ANNOTATION,
} from "../../../lib/node_control/mod.ts";
import { fakeKube } from "../report/fake_kube.ts";

/** A stand-in for client-node's Watch and the Node read: each watch opened is recorded and driven by hand. */
class FakeApi {
  node: NodeLike = { metadata: { name: "n1", annotations: {} }, status: { nodeInfo: { bootID: "boot-1" } } };
  reads = 0;
  failReads = false;
  watches: {
    path: string;
    query: Record<string, unknown>;
    send: (type: string, obj: NodeLike) => void;
    end: (err: unknown) => void;
    aborted: boolean;
  }[] = [];

  kube(): Pick<Kube, "core" | "watch"> {
    // deno-lint-ignore no-this-alias -- the fake's methods read its state
    const api = this;
    return {
      core: {
        readNode: () => {
          api.reads++;
          return api.failReads
            ? Promise.reject(new k8s.ApiException(503, "unavailable", "{}", {}))
            : Promise.resolve(structuredClone(api.node));
        },
      },
      watch: {
        watch(
          path: string,
          query: Record<string, unknown>,
          cb: (type: string, obj: NodeLike) => void,
          done: (err: unknown) => void,
        ) {
          const w = { path, query, send: cb, end: done, aborted: false };
          api.watches.push(w);
          const ctl = new AbortController();
          ctl.signal.addEventListener("abort", () => {
            w.aborted = true;
            done(new Error("aborted"));
          });
          return Promise.resolve(ctl);
        },
      },
    } as unknown as Pick<Kube, "core" | "watch">;
  }

  get last() {
    const w = this.watches.at(-1);
    assert.ok(w, "a watch is open");
    return w;
  }

  /** Changes the Node and sends it on the open watch. */
  change(f: (n: NodeLike) => void): void {
    f(this.node);
    this.last.send("MODIFIED", structuredClone(this.node));
  }
}

function annotate(n: NodeLike, key: string, value: string | undefined): void {
  const a = (n.metadata ??= {}).annotations ??= {};
  if (value === undefined) delete a[key];
  else a[key] = value;
}

function setup() {
  const api = new FakeApi();
  const lines: Record<string, unknown>[] = [];
  const log = new Logger({ format: "json", node: "n1", sink: (l) => lines.push(JSON.parse(l)) });
  const w = new NodeControlWatch(api.kube(), "n1", log);
  return { api, w, lines };
}

const tick = () => new Promise((r) => setTimeout(r, 0));
const hold = { by: "alice", reason: "NIC firmware", since: "2026-11-23T10:00:00Z" };

Deno.test("node watch: one watch of this Node alone; reads only until the watch delivered it", async () => {
  const { api, w } = setup();
  w.start();
  await tick();
  assert.equal(api.watches.length, 1);
  assert.equal(api.last.path, "/api/v1/nodes");
  assert.equal(api.last.query.fieldSelector, "metadata.name=n1");
  // No first event within a moment (the watch is slow to start): a read.
  assert.equal(await w.hold(), undefined);
  assert.equal(api.reads, 1);
  api.last.send("ADDED", structuredClone(api.node));
  for (let i = 0; i < 5; i++) await w.hold();
  assert.equal(api.reads, 1, "no request once the watch holds the Node");
  api.change((n) => annotate(n, HOLD_ANNOTATION, encodeHold(hold)));
  assert.deepEqual(await w.hold(), hold);
  assert.equal(api.reads, 1);
  w.stop();
  assert.equal(api.last.aborted, true, "stop() ends the watch");
});

Deno.test("node watch: changed() wakes on a hold, request or boot ID change, not on other changes", async () => {
  const { api, w } = setup();
  const seen: NodeLike[] = [];
  w.onChange = (n) => seen.push(n);
  w.start();
  await tick();
  api.last.send("ADDED", structuredClone(api.node));
  await w.current(); // read: nothing pending
  assert.equal(seen.length, 1);

  let woke = false;
  const ac = new AbortController();
  const waiting = w.changed(ac.signal).then(() => (woke = true));
  api.change((n) => (n.metadata!.annotations!["other"] = "x"));
  api.change((n) => ((n as { spec?: unknown }).spec = { unschedulable: true }));
  await tick();
  assert.equal(woke, false, "a cordon or another annotation is no reason to look again");
  api.change((n) =>
    annotate(n, REQUEST_ANNOTATION, encodeRequest({ by: "bob", since: "t", bootId: "boot-1" }))
  );
  await waiting;
  assert.equal(woke, true);
  assert.equal(seen.length, 2, "onChange once per change of the control");

  // A change while nobody waits is kept until it is read: the next wait returns at once.
  api.change((n) => annotate(n, HOLD_ANNOTATION, encodeHold(hold)));
  await w.changed(new AbortController().signal);
  await w.current();
  let again = false;
  const ac2 = new AbortController();
  const p = w.changed(ac2.signal).then(() => (again = true));
  await tick();
  assert.equal(again, false, "read since: nothing pending");
  api.change((n) => (n.status!.nodeInfo!.bootID = "boot-2"));
  await p;
  ac.abort();
  w.stop();
});

Deno.test("node watch: request() is the request to act on now; unreadable or unreachable asks for nothing, with one warning", async () => {
  const { api, w, lines } = setup();
  w.start();
  await tick();
  api.last.send("ADDED", structuredClone(api.node));
  assert.equal(await w.request(), undefined);
  const r = { by: "bob", since: "2026-11-23T10:00:00Z", bootId: "boot-1", reason: "kernel parameter" };
  api.change((n) => annotate(n, REQUEST_ANNOTATION, encodeRequest(r)));
  assert.deepEqual(await w.request(), r);
  api.change((n) => (n.status!.nodeInfo!.bootID = "boot-2"));
  assert.equal(await w.request(), undefined, "satisfied by the reboot since");
  api.change((n) => annotate(n, REQUEST_ANNOTATION, "please"));
  assert.equal(await w.request(), undefined);
  assert.equal(await w.request(), undefined);
  const warnings = lines.filter((l) => l.level === "warn");
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  assert.match(
    String(warnings[0]?.msg),
    /unreadable kreboot\.dev\/reboot-requested annotation .*requests nothing/,
  );
  w.stop();

  // Never delivered and the read fails: no request, and the hold cannot be told (the gate blocks on that).
  const s = setup();
  s.api.failReads = true;
  assert.equal(await s.w.request(), undefined);
  await assert.rejects(s.w.hold(), /unavailable|503/);
  assert.match(String(s.lines.at(-1)?.msg), /cannot read this node's reboot request: HTTP 503/);
});

Deno.test("node watch: reopens a watch the server ended, backs off one that fails, and sees what changed meanwhile", async () => {
  const { api, w, lines } = setup();
  w.start();
  await tick();
  api.last.send("ADDED", structuredClone(api.node));
  await w.current();
  // A watch that ends soon after it opened (here with an error) is opened again after a backoff, with a warning.
  api.last.end(new Error("connection reset"));
  const t0 = Date.now();
  while (api.watches.length < 2) await new Promise((r) => setTimeout(r, 10));
  const first = Date.now() - t0;
  assert.ok(first >= 400, `an early end waits the first backoff (${first} ms)`);
  assert.match(String(lines.at(-1)?.msg), /the watch of this node ended; opening it again/);
  // The hold placed while the watch was down arrives with the new watch's first event, and wakes a waiter.
  let woke = false;
  const p = w.changed(new AbortController().signal).then(() => (woke = true));
  annotate(api.node, HOLD_ANNOTATION, encodeHold(hold));
  api.last.send("ADDED", structuredClone(api.node));
  await p;
  assert.equal(woke, true);
  assert.deepEqual(await w.hold(), hold);
  assert.equal(api.reads, 0, "the watch's own first event is the re-read");
  // Ending again at once doubles the wait.
  api.last.end(new Error("connection refused"));
  const t1 = Date.now();
  while (api.watches.length < 3) await new Promise((r) => setTimeout(r, 10));
  assert.ok(Date.now() - t1 >= 900, "backed off");
  w.stop();
});

Deno.test("after a confirmed reboot the satisfied request is removed only if unchanged; a current one stays", async () => {
  const log = new Logger({ format: "json", node: "n1", sink: () => {} });
  const satisfied = encodeRequest({ by: "bob", since: "t", bootId: "boot-1" });
  const node = (raw: string | undefined, bootID: string): NodeLike => ({
    metadata: { name: "n1", annotations: raw === undefined ? {} : { [REQUEST_ANNOTATION]: raw } },
    status: { nodeInfo: { bootID } },
  });

  const f = fakeKube();
  await clearRequestAfterReboot(f.kube, "n1", node(satisfied, "boot-2"), log);
  const [patch] = f.of("patchNode");
  assert.equal(patch?.contentType, "application/json-patch+json");
  assert.deepEqual(patch?.params.body, [
    { op: "test", path: "/metadata/annotations/kreboot.dev~1reboot-requested", value: satisfied },
    { op: "remove", path: "/metadata/annotations/kreboot.dev~1reboot-requested" },
  ]);

  // Recorded without a boot ID: only the reboot just confirmed can answer it.
  const noBoot = encodeRequest({ by: "bob", since: "t" });
  const g = fakeKube({ dryRun: true });
  await clearRequestAfterReboot(g.kube, "n1", node(noBoot, "boot-2"), log);
  assert.equal(g.of("patchNode")[0]?.params.dryRun, "All", "--dry-run changes nothing");

  // Made during the current boot (after the reboot), absent, or unreadable: left alone.
  const h = fakeKube();
  await clearRequestAfterReboot(
    h.kube,
    "n1",
    node(encodeRequest({ by: "b", since: "t", bootId: "boot-2" }), "boot-2"),
    log,
  );
  await clearRequestAfterReboot(h.kube, "n1", node(undefined, "boot-2"), log);
  await clearRequestAfterReboot(h.kube, "n1", node("garbage", "boot-2"), log);
  assert.equal(h.of("patchNode").length, 0);

  // Changed meanwhile (the test fails with 422): kept, no error. Another failure is an error, to retry.
  const i = fakeKube();
  i.fail.set("patchNode", 422);
  await clearRequestAfterReboot(i.kube, "n1", node(satisfied, "boot-2"), log);
  i.fail.set("patchNode", 500);
  await assert.rejects(clearRequestAfterReboot(i.kube, "n1", node(satisfied, "boot-2"), log));
});

Deno.test("node watch: right after start-up current() waits a moment for the watch instead of reading", async () => {
  const { api, w } = setup();
  w.start();
  await tick();
  const reading = w.current();
  setTimeout(() => api.last.send("ADDED", structuredClone(api.node)), 20);
  assert.equal((await reading).metadata?.name, "n1");
  assert.equal(api.reads, 0, "the watch answered");
  w.stop();
});

Deno.test("node watch: current() waits for this daemon's own announced write and takes its answer", async () => {
  const { api, w } = setup();
  const v = (rv: string, unschedulable: boolean) =>
    ({ metadata: { name: "n1", resourceVersion: rv }, spec: { unschedulable } }) as unknown as NodeLike;
  w.start();
  await tick();
  api.last.send("ADDED", v("1", false));
  // A condition write is queued: a read waits for its answer rather than answer with version 1.
  let answer: (n: k8s.V1Node | undefined) => void = () => {};
  w.expect(new Promise((r) => (answer = r)));
  const reading = w.current();
  setTimeout(() => answer(v("2", true) as k8s.V1Node), 20);
  assert.equal((await reading).metadata?.resourceVersion, "2", "newer than the watch so far");
  // The watch brings older versions first: they change nothing until it reaches the answer, then it goes on.
  api.last.send("MODIFIED", v("1", false));
  assert.equal((await w.current()).metadata?.resourceVersion, "2");
  api.last.send("MODIFIED", v("2", true));
  api.last.send("MODIFIED", v("3", false));
  assert.equal((await w.current()).metadata?.resourceVersion, "3");
  // An answer the watch already passed changes nothing; nor does a write that wrote nothing, or failed.
  api.last.send("MODIFIED", v("4", true));
  w.expect(Promise.resolve(v("4", true) as k8s.V1Node));
  api.last.send("MODIFIED", v("5", false));
  assert.equal((await w.current()).metadata?.resourceVersion, "5");
  w.expect(Promise.resolve(undefined));
  w.expect(Promise.reject(new Error("refused")));
  assert.equal((await w.current()).metadata?.resourceVersion, "5");
  assert.equal(api.reads, 0);
  w.stop();
});

Deno.test("node watch: an own write that never answers holds a read back for two seconds at most", async () => {
  const { api, w } = setup();
  w.start();
  await tick();
  api.last.send("ADDED", structuredClone(api.node));
  w.expect(new Promise(() => {}));
  const t0 = Date.now();
  await w.current();
  const ms = Date.now() - t0;
  assert.ok(ms >= 1_500 && ms < 5_000, `${ms} ms`);
  w.stop();
});
