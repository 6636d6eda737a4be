/** Node writes against a recording fake: what each patch carries, the 409 re-read, and the admin cordon rule. */
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import {
  cordon,
  CORDONED_BY_KREBOOT,
  removeNodeLabels,
  setPreferNoScheduleTaint,
  uncordon,
} from "../../../lib/drain/node.ts";
import { restoreAfterReboot, retreat } from "../../../lib/drain/mod.ts";
import { ApiError, type Kube, type PatchType } from "../../../lib/kube/mod.ts";
import { Logger } from "../../../lib/log.ts";

class FakeNodes {
  node: k8s.V1Node;
  patches: { body: Record<string, unknown>; dryRun: string | undefined; contentType: string | undefined }[] =
    [];
  /** Errors (status codes) the next patches throw, in order. */
  failNext: number[] = [];
  /** Called before a patch is judged, to simulate a concurrent writer. */
  beforePatch: (() => void) | undefined;
  /** The Node object was deleted: every read and patch answers 404. */
  deleted = false;
  reads = 0;

  constructor(spec: k8s.V1NodeSpec = {}) {
    this.node = { metadata: { name: "n1", resourceVersion: "1", labels: {} }, spec };
  }

  readonly core = {
    readNode: () => {
      this.reads++;
      return this.deleted ? Promise.reject(notFound()) : Promise.resolve(structuredClone(this.node));
    },
    patchNode: (
      p: { name: string; body: Record<string, unknown>; dryRun?: string },
      contentType?: PatchType,
    ) => {
      if (this.deleted) return Promise.reject(notFound());
      this.beforePatch?.();
      this.beforePatch = undefined;
      this.patches.push({ body: structuredClone(p.body), dryRun: p.dryRun, contentType });
      const code = this.failNext.shift();
      if (code !== undefined) return Promise.reject(new ApiError(code, "{}", {}, "PATCH node"));
      const meta = p.body.metadata as { resourceVersion?: string } | undefined;
      if (
        meta?.resourceVersion !== undefined && meta.resourceVersion !== this.node.metadata?.resourceVersion
      ) {
        return Promise.reject(new ApiError(409, '{"reason":"Conflict"}', {}, "PATCH node"));
      }
      const spec = p.body.spec as k8s.V1NodeSpec | undefined;
      if (spec?.taints && p.dryRun === undefined) this.node.spec = { ...this.node.spec, taints: spec.taints };
      this.bump();
      return Promise.resolve(this.node);
    },
  };

  bump(): void {
    const meta = this.node.metadata as k8s.V1ObjectMeta;
    meta.resourceVersion = String(Number(meta.resourceVersion) + 1);
  }

  kube(dryRun = false): Pick<Kube, "core" | "dryRun"> {
    return { core: this.core, dryRun } as unknown as Pick<Kube, "core" | "dryRun">;
  }
}

function notFound(): ApiError {
  return new ApiError(
    404,
    JSON.stringify({ reason: "NotFound", message: 'nodes "n1" not found' }),
    {},
    "GET node",
  );
}

function collect(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { log: new Logger({ format: "json", node: "n1", sink: (l) => lines.push(JSON.parse(l)) }), lines };
}

Deno.test("cordon: one merge patch sets spec.unschedulable and kreboot's annotation, with the resourceVersion", async () => {
  const f = new FakeNodes();
  assert.deepEqual(await cordon(f.kube(), "n1"), { wasUnschedulable: false });
  assert.deepEqual(f.patches, [{
    body: {
      metadata: { resourceVersion: "1", annotations: { [CORDONED_BY_KREBOOT]: "true" } },
      spec: { unschedulable: true },
    },
    dryRun: undefined,
    contentType: "application/merge-patch+json",
  }]);
});

Deno.test("cordon: an already cordoned node is left alone and remembered as such", async () => {
  const f = new FakeNodes({ unschedulable: true });
  assert.deepEqual(await cordon(f.kube(), "n1"), { wasUnschedulable: true });
  assert.equal(f.patches.length, 0);
});

Deno.test("cordon: a node kreboot cordoned before a restart is recognised as kreboot's", async () => {
  const f = new FakeNodes({ unschedulable: true });
  f.node.metadata!.annotations = { [CORDONED_BY_KREBOOT]: "true" };
  assert.deepEqual(await cordon(f.kube(), "n1"), { wasUnschedulable: false });
  assert.equal(f.patches.length, 0);
});

Deno.test("uncordon: only a node carrying kreboot's annotation; dry-run goes with dryRun=All", async () => {
  const admin = new FakeNodes({ unschedulable: true });
  assert.deepEqual(await uncordon(admin.kube(), "n1"), { uncordoned: false });
  assert.equal(admin.patches.length, 0, "never uncordon a node kreboot did not cordon");

  const ours = new FakeNodes({ unschedulable: true });
  ours.node.metadata!.annotations = { [CORDONED_BY_KREBOOT]: "true" };
  assert.deepEqual(await uncordon(ours.kube(true), "n1"), { uncordoned: true });
  assert.deepEqual(ours.patches.map((p) => [p.body, p.dryRun]), [[
    {
      metadata: { resourceVersion: "1", annotations: { [CORDONED_BY_KREBOOT]: null } },
      spec: { unschedulable: null },
    },
    "All",
  ]]);
});

Deno.test("taint: the patch carries the resourceVersion and keeps other taints", async () => {
  const f = new FakeNodes({ taints: [{ key: "other", effect: "NoSchedule", value: "v" }] });
  assert.deepEqual(await setPreferNoScheduleTaint(f.kube(), "n1", "k", true), { changed: true });
  assert.deepEqual(f.patches[0]?.body, {
    metadata: { resourceVersion: "1" },
    spec: {
      taints: [{ key: "other", effect: "NoSchedule", value: "v" }, { key: "k", effect: "PreferNoSchedule" }],
    },
  });
  assert.deepEqual(await setPreferNoScheduleTaint(f.kube(), "n1", "k", true), { changed: false });
  assert.deepEqual(await setPreferNoScheduleTaint(f.kube(), "n1", "k", false), { changed: true });
  assert.deepEqual(f.node.spec?.taints, [{ key: "other", effect: "NoSchedule", value: "v" }]);
});

Deno.test("taint: a taint someone added between read and patch survives (409, re-read, retry)", async () => {
  const f = new FakeNodes({ taints: [] });
  f.beforePatch = () => {
    f.node.spec = { taints: [{ key: "theirs", effect: "NoExecute" }] };
    f.bump();
  };
  assert.deepEqual(await setPreferNoScheduleTaint(f.kube(), "n1", "k", true), { changed: true });
  assert.equal(f.patches.length, 2);
  assert.deepEqual(f.node.spec?.taints, [{ key: "theirs", effect: "NoExecute" }, {
    key: "k",
    effect: "PreferNoSchedule",
  }]);
});

Deno.test("taint: a key with another effect is not ours; empty key is a no-op; errors name the node", async () => {
  const f = new FakeNodes({ taints: [{ key: "k", effect: "NoSchedule" }] });
  assert.deepEqual(await setPreferNoScheduleTaint(f.kube(), "n1", "k", false), { changed: false });
  assert.deepEqual(await setPreferNoScheduleTaint(f.kube(), "n1", "", true), { changed: false });
  f.failNext = [403];
  await assert.rejects(
    setPreferNoScheduleTaint(f.kube(), "n1", "k", true),
    /cannot add taint k:PreferNoSchedule on node n1: HTTP 403/,
  );
});

Deno.test("labels: removal patches null values", async () => {
  const f = new FakeNodes();
  await removeNodeLabels(f.kube(), "n1", ["a", "b"]);
  await removeNodeLabels(f.kube(), "n1", []);
  assert.deepEqual(f.patches.map((p) => p.body), [{ metadata: { labels: { a: null, b: null } } }]);
});

Deno.test("retreat: tries every step and reports all failures together", async () => {
  const f = new FakeNodes({ unschedulable: true, taints: [{ key: "k", effect: "PreferNoSchedule" }] });
  f.node.metadata!.annotations = { [CORDONED_BY_KREBOOT]: "true" };
  f.failNext = [500]; // the uncordon fails, the rest goes on
  await assert.rejects(
    retreat(f.kube(), "n1", { taint: "k", preRebootLabels: { pre: "x" } }),
    /retreat on node n1 incomplete.*cannot uncordon node n1: HTTP 500/,
  );
  assert.deepEqual(f.patches.map((p) => Object.keys(p.body.spec ?? p.body.metadata ?? {})), [
    ["unschedulable"],
    ["taints"],
    ["labels"],
  ]);
  assert.deepEqual(f.node.spec?.taints, []);
});

Deno.test("a deleted Node: the retreat and the restore succeed as 'nothing to restore', with a log line", async () => {
  const opts = { taint: "k", preRebootLabels: { pre: "x" }, postRebootLabels: { post: "y" } };
  for (const [what, run] of [["retreat", retreat], ["restoreAfterReboot", restoreAfterReboot]] as const) {
    const f = new FakeNodes({ unschedulable: true });
    f.node.metadata!.annotations = { [CORDONED_BY_KREBOOT]: "true" };
    f.deleted = true;
    const { log, lines } = collect();
    await run(f.kube(), "n1", opts, log); // resolves: nothing left to retry
    assert.equal(f.reads, 1, `${what}: stops at the first 404 instead of trying every step`);
    assert.equal(f.patches.length, 0, what);
    assert.deepEqual(lines.map((l) => [l.msg, l.node, l.step]), [
      ["the Node object no longer exists: nothing to restore", "n1", "uncordon"],
    ], what);
  }
});

Deno.test("a Node deleted between the read and the uncordon patch: also nothing to restore", async () => {
  const f = new FakeNodes({ unschedulable: true });
  f.node.metadata!.annotations = { [CORDONED_BY_KREBOOT]: "true" };
  f.beforePatch = () => f.deleted = true;
  const { log, lines } = collect();
  await restoreAfterReboot(f.kube(), "n1", { taint: "k", postRebootLabels: {} }, log);
  assert.deepEqual(lines.map((l) => l.msg), ["the Node object no longer exists: nothing to restore"]);
});

Deno.test("other failures are still reported and retried, not mistaken for a deleted Node", async () => {
  const f = new FakeNodes({ unschedulable: true });
  f.node.metadata!.annotations = { [CORDONED_BY_KREBOOT]: "true" };
  f.failNext = [500];
  await assert.rejects(
    restoreAfterReboot(f.kube(), "n1", { taint: "", postRebootLabels: {} }),
    /restoring node n1 after its reboot incomplete \(will be retried\): uncordon: cannot uncordon node n1: HTTP 500/,
  );
});

Deno.test("a known Node (from the daemon's watch) saves the read before a write; a stale one costs a re-read", async () => {
  const f = new FakeNodes();
  const snapshot = structuredClone(f.node);
  assert.deepEqual(await cordon(f.kube(), "n1", () => Promise.resolve(snapshot)), {
    wasUnschedulable: false,
  });
  assert.equal(f.reads, 0, "written from the known object");
  assert.equal(f.patches.length, 1);

  // Known one version behind (our own uncordon of it is already on the server): 409, read, write.
  const ours = new FakeNodes({ unschedulable: true });
  ours.node.metadata!.annotations = { [CORDONED_BY_KREBOOT]: "true" };
  const stale = structuredClone(ours.node);
  ours.bump();
  assert.deepEqual(await uncordon(ours.kube(), "n1", () => Promise.resolve(stale)), { uncordoned: true });
  assert.equal(ours.reads, 1);
  assert.equal(ours.patches.length, 2);
});

Deno.test("a known Node never decides to write nothing: that takes a fresh read", async () => {
  // The watch does not show our cordon yet: uncordon reads before concluding the cordon is not ours.
  const ours = new FakeNodes({ unschedulable: true });
  ours.node.metadata!.annotations = { [CORDONED_BY_KREBOOT]: "true" };
  const before = { metadata: { name: "n1", resourceVersion: "0" }, spec: {} };
  assert.deepEqual(await uncordon(ours.kube(), "n1", () => Promise.resolve(before)), { uncordoned: true });
  assert.equal(ours.reads, 1);

  // The watch still shows an admin's cordon that was lifted since: cordon reads, then cordons.
  const lifted = new FakeNodes();
  const old = { metadata: { name: "n1", resourceVersion: "0" }, spec: { unschedulable: true } };
  assert.deepEqual(await cordon(lifted.kube(), "n1", () => Promise.resolve(old)), {
    wasUnschedulable: false,
  });
  assert.equal(lifted.reads, 1);
  assert.equal(lifted.patches.length, 1);

  // The taint already there as known: confirmed by a read before nothing is written.
  const tainted = new FakeNodes({ taints: [{ key: "k", effect: "PreferNoSchedule" }] });
  const known = structuredClone(tainted.node);
  const r = await setPreferNoScheduleTaint(tainted.kube(), "n1", "k", true, () => Promise.resolve(known));
  assert.deepEqual(r, { changed: false });
  assert.equal(tainted.reads, 1);
  assert.equal(tainted.patches.length, 0);
});
