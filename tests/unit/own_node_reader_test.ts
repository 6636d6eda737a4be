/**
 * OwnNodeReader (lib/own_node_reader.ts) against a scripted watch: a GET per read while not following, reads
 * answered from the watch while following, a GET again whenever the watch cannot answer.
 */
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import type { Kube } from "../../lib/kube.ts";
import { Logger } from "../../lib/log.ts";
import { OwnNodeReader } from "../../lib/own_node_reader.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface OpenWatch {
  path: string;
  query: Record<string, unknown>;
  send(type: string, obj: unknown): void;
  end(err?: unknown): void;
  ctl: AbortController;
}

function harness(opts: { initialEvent?: boolean } = {}) {
  const node = (unschedulable: boolean): k8s.V1Node => ({
    metadata: { name: "n1", uid: "uid-1" },
    spec: { unschedulable },
  });
  let server = node(false);
  const gets: string[] = [];
  const watches: OpenWatch[] = [];
  const kube = {
    core: {
      readNode: ({ name }: { name: string }) => {
        gets.push(name);
        return Promise.resolve(structuredClone(server));
      },
    },
    watch: {
      watch(
        path: string,
        query: Record<string, unknown>,
        cb: (type: string, obj: unknown) => void,
        done: (err: unknown) => void,
      ): Promise<AbortController> {
        const ctl = new AbortController();
        const w: OpenWatch = { path, query, send: cb, end: done, ctl };
        ctl.signal.addEventListener("abort", () => done(new DOMException("aborted", "AbortError")));
        watches.push(w);
        // The API server begins a watch without a resourceVersion with the object as it is.
        if (opts.initialEvent ?? true) setTimeout(() => cb("ADDED", structuredClone(server)), 5);
        return Promise.resolve(ctl);
      },
    },
  } as unknown as Pick<Kube, "core" | "watch">;
  const lines: string[] = [];
  const seen: k8s.V1Node[] = [];
  const reader = new OwnNodeReader(
    kube,
    "n1",
    new Logger({ format: "json", node: "n1", sink: (l) => lines.push(l) }),
    (n) => seen.push(n),
  );
  return {
    reader,
    gets,
    watches,
    seen,
    lines,
    set(unschedulable: boolean) {
      server = node(unschedulable);
      for (const w of watches) if (!w.ctl.signal.aborted) w.send("MODIFIED", structuredClone(server));
    },
  };
}

Deno.test("OwnNodeReader: not following, every read is a GET and nothing stays open", async () => {
  const h = harness();
  await h.reader.read();
  await h.reader.read();
  assert.equal(h.gets.length, 2);
  assert.equal(h.watches.length, 0);
  assert.equal(h.seen.length, 2, "every read is handed on");
});

Deno.test("OwnNodeReader: following, reads come from the watch, changes included; stop closes it", async () => {
  const h = harness();
  h.reader.follow();
  h.reader.follow();
  assert.equal(h.watches.length, 1, "one watch, however often follow is called");
  assert.equal(h.watches[0]?.query.fieldSelector, "metadata.name=n1");
  assert.equal(h.watches[0]?.query.resourceVersion, undefined, "begins with the Node as it is");
  assert.equal((await h.reader.read()).spec?.unschedulable, false);
  h.set(true);
  assert.equal((await h.reader.read()).spec?.unschedulable, true);
  assert.equal(h.gets.length, 0, "no GET while the watch answers");
  assert.equal(h.seen.length, 2);
  h.reader.stop();
  assert.ok(h.watches[0]?.ctl.signal.aborted);
  await h.reader.read();
  assert.equal(h.gets.length, 1, "stopped: a GET again");
  assert.deepEqual(h.lines, [], "our own stop is no failure");
});

Deno.test("OwnNodeReader: a watch that says nothing is read around; an ended one restarts", async () => {
  const quiet = harness({ initialEvent: false });
  quiet.reader.follow();
  const t0 = Date.now();
  await quiet.reader.read();
  assert.equal(quiet.gets.length, 1, "no first event within a moment: one GET");
  assert.ok(Date.now() - t0 < 3_000);
  quiet.reader.stop();

  const h = harness();
  h.reader.follow();
  await h.reader.read();
  h.watches[0]?.end(new Error("connection reset"));
  await h.reader.read();
  assert.equal(h.gets.length, 1, "while the watch is down: a GET");
  assert.equal(h.lines.filter((l) => /watch on this node ended/.test(l)).length, 1);
  // Restarted after its backoff (2 s for a watch that ended at once), beginning with the Node again.
  await sleep(2_300);
  assert.equal(h.watches.length, 2);
  await h.reader.read();
  assert.equal(h.gets.length, 1, "the new watch answers");
  h.reader.stop();
});

Deno.test("OwnNodeReader: reads wait for our own queued write, whose answer counts until the watch brings it", async () => {
  const h = harness({ initialEvent: false });
  const v = (rv: string, unschedulable: boolean): k8s.V1Node => ({
    metadata: { name: "n1", resourceVersion: rv },
    spec: { unschedulable },
  });
  h.reader.follow();
  const w = h.watches[0]!;
  w.send("ADDED", v("1", false));
  // A condition write is queued: a read waits for its answer rather than answer with version 1.
  let answer: (n: k8s.V1Node | undefined) => void = () => {};
  h.reader.expect(new Promise((r) => (answer = r)));
  const reading = h.reader.read();
  setTimeout(() => answer(v("2", true)), 20);
  assert.equal((await reading).metadata?.resourceVersion, "2", "newer than the watch so far");
  w.send("MODIFIED", v("2", true));
  w.send("MODIFIED", v("3", false));
  assert.equal((await h.reader.read()).metadata?.resourceVersion, "3", "the watch caught up and went on");
  // An answer that the watch already passed changes nothing; nor does a write that wrote nothing.
  w.send("MODIFIED", v("4", true));
  h.reader.expect(Promise.resolve(v("4", true)));
  w.send("MODIFIED", v("5", false));
  assert.equal((await h.reader.read()).metadata?.resourceVersion, "5");
  h.reader.expect(Promise.resolve(undefined));
  h.reader.expect(Promise.reject(new Error("refused")));
  assert.equal((await h.reader.read()).metadata?.resourceVersion, "5");
  assert.equal(h.gets.length, 0);
  h.reader.stop();
});

Deno.test("OwnNodeReader: a write that never answers holds a read back for a moment only", async () => {
  const h = harness();
  h.reader.follow();
  h.reader.expect(new Promise(() => {}));
  const t0 = Date.now();
  await h.reader.read();
  const ms = Date.now() - t0;
  assert.ok(ms >= 1_500 && ms < 5_000, `${ms} ms`);
  h.reader.stop();
});
