/**
 * The pause, decoded in one place (lib/lock/pause.ts) for the lock and for `kreboot status`.
 */
import assert from "node:assert/strict";
import {
  decodeDaemonSetPause,
  decodePauseLease,
  effectivePause,
  kuredAnnotationPause,
  NOT_PAUSED,
} from "../../../lib/lock/pause.ts";

const where = { namespace: "kube-system", dsName: "kured", lockAnnotation: "weave.works/kured-node-lock" };

Deno.test("kuredAnnotationPause() reads kured's manual lock forms", () => {
  assert.equal(kuredAnnotationPause(undefined), undefined);
  assert.equal(kuredAnnotationPause(""), undefined);
  assert.equal(kuredAnnotationPause('{"nodeID":"manual"}'), "manual");
  assert.equal(kuredAnnotationPause('{"maxOwners":2,"locks":[{"nodeID":"a"},{"nodeID":"b"}]}'), "a,b");
  assert.equal(kuredAnnotationPause('{"maxOwners":2,"locks":[]}'), undefined);
  assert.equal(kuredAnnotationPause("{not json"), "unreadable kured lock annotation");
});

Deno.test("decodePauseLease(): who, why and since when, from JSON or client objects", () => {
  assert.deepEqual(
    decodePauseLease({
      metadata: { annotations: { "kreboot.dev/pause-reason": "change freeze" } },
      spec: { holderIdentity: "ops@laptop", acquireTime: "2026-01-02T03:04:05.000000Z" },
    }),
    {
      paused: true,
      by: "ops@laptop",
      reason: "change freeze",
      source: "lease",
      since: new Date("2026-01-02T03:04:05Z"),
    },
  );
  const d = new Date("2026-01-02T03:04:05Z");
  const fromClient = decodePauseLease({ spec: { holderIdentity: "x", acquireTime: d } });
  assert.deepEqual(fromClient, {
    paused: true,
    by: "x",
    reason: "(no reason given)",
    source: "lease",
    since: d,
  });
  assert.deepEqual(decodePauseLease({ spec: { holderIdentity: "" } }), NOT_PAUSED);
  assert.deepEqual(decodePauseLease({ spec: { acquireTime: "garbage" } }), NOT_PAUSED);
  assert.deepEqual(decodePauseLease("nonsense"), NOT_PAUSED);
  const noTime = decodePauseLease({ spec: { holderIdentity: "x", acquireTime: "not a time" } });
  assert.equal("since" in noTime, false);
});

Deno.test("decodeDaemonSetPause(): kured's annotation on the DaemonSet, named with where it is", () => {
  const ds = (v?: string) => ({
    metadata: { annotations: v === undefined ? {} : { [where.lockAnnotation]: v } },
  });
  assert.deepEqual(decodeDaemonSetPause(ds('{"nodeID":"manual"}'), where), {
    paused: true,
    by: "manual",
    reason: "kured lock annotation weave.works/kured-node-lock on DaemonSet kube-system/kured",
    source: "kured-annotation",
  });
  assert.deepEqual(decodeDaemonSetPause(ds(), where), NOT_PAUSED);
  assert.deepEqual(decodeDaemonSetPause(undefined, where), NOT_PAUSED);
  assert.equal(decodeDaemonSetPause(ds("{oops"), where).paused, true, "unreadable is still a stop sign");
});

Deno.test("effectivePause(): kreboot pause wins over kured's annotation; either alone pauses", () => {
  const lease = decodePauseLease({ spec: { holderIdentity: "ops" } });
  const ann = decodeDaemonSetPause({
    metadata: { annotations: { [where.lockAnnotation]: '{"nodeID":"m"}' } },
  }, where);
  assert.equal(effectivePause(lease, ann), lease);
  assert.equal(effectivePause(NOT_PAUSED, ann), ann);
  assert.equal(effectivePause(lease, NOT_PAUSED), lease);
  assert.deepEqual(effectivePause(NOT_PAUSED, NOT_PAUSED), NOT_PAUSED);
});
