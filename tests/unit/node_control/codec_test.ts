import assert from "node:assert/strict";
import {
  clearRequestPatch,
  decodeHold,
  decodeRequest,
  describeHold,
  describeRequest,
  encodeHold,
  encodeRequest,
  HOLD_ANNOTATION,
  holdOf,
  holdPatch,
  isHeld,
  type NodeLike,
  rebootRequested,
  REQUEST_ANNOTATION,
  requestOf,
  requestPatch,
  requestSatisfied,
  requestToClearAfterReboot,
} from "../../../lib/node_control/mod.ts";

const node = (annotations: Record<string, string>, bootID = "boot-1"): NodeLike => ({
  metadata: { name: "n1", annotations },
  status: { nodeInfo: { bootID } },
});

Deno.test("hold: round-trips; absent = not held; unreadable = held by unknown", () => {
  const h = { by: "alice", reason: "debugging a NIC, do not touch", since: "2026-11-23T10:00:00Z" };
  assert.deepEqual(decodeHold(encodeHold(h)), h);
  assert.equal(isHeld(node({})), false);
  assert.equal(holdOf(node({})), undefined);
  assert.deepEqual(holdOf(node({ [HOLD_ANNOTATION]: encodeHold(h) })), h);
  for (const raw of ["", "yes", "{}", "[1]", '{"by":1,"reason":"x"}', "null", "{".repeat(10_000)]) {
    const n = node({ [HOLD_ANNOTATION]: raw });
    assert.equal(isHeld(n), true, `unreadable ${JSON.stringify(raw.slice(0, 20))} still holds`);
    assert.equal(holdOf(n)?.by, "unknown");
    assert.match(holdOf(n)?.reason ?? "", /unreadable kreboot\.dev\/hold annotation/);
    assert.ok((holdOf(n)?.reason ?? "").length < 200, "bounded");
  }
  assert.equal(decodeHold(JSON.stringify({ by: "b".repeat(5_000), reason: "r" }))?.by.length, 300);
});

Deno.test("request: needed during the boot it was made in, satisfied by the next boot", () => {
  const r = { by: "bob", since: "2026-11-23T10:00:00Z", bootId: "boot-1", reason: "kernel parameter" };
  assert.deepEqual(decodeRequest(encodeRequest(r)), { value: r });
  const raw = encodeRequest(r);
  assert.equal(rebootRequested(node({ [REQUEST_ANNOTATION]: raw })), true);
  assert.equal(requestSatisfied(node({ [REQUEST_ANNOTATION]: raw })), false);
  assert.equal(rebootRequested(node({ [REQUEST_ANNOTATION]: raw }, "boot-2")), false, "rebooted since");
  assert.equal(requestSatisfied(node({ [REQUEST_ANNOTATION]: raw }, "boot-2")), true);
  const noBoot = encodeRequest({ by: "bob", since: "2026-11-23T10:00:00Z" });
  assert.equal(
    rebootRequested(node({ [REQUEST_ANNOTATION]: noBoot }, "boot-9")),
    true,
    "no boot ID recorded",
  );
  assert.equal(requestSatisfied(node({ [REQUEST_ANNOTATION]: noBoot }, "boot-9")), false);
  assert.equal(rebootRequested(node({})), false);
});

Deno.test("request: an unreadable one asks for nothing and says why", () => {
  for (const raw of ["", "please", "{}", '{"by":"x"}', "[]"]) {
    const n = node({ [REQUEST_ANNOTATION]: raw });
    assert.equal(rebootRequested(n), false, raw);
    assert.match(requestOf(n)?.problem ?? "", /unreadable kreboot\.dev\/reboot-requested annotation/);
  }
});

Deno.test("patches: merge patches set and remove; the clearing JSON Patch tests the value first", () => {
  const h = { by: "a", reason: "r", since: "s" };
  assert.deepEqual(holdPatch(h), { metadata: { annotations: { [HOLD_ANNOTATION]: encodeHold(h) } } });
  assert.deepEqual(holdPatch(null), { metadata: { annotations: { [HOLD_ANNOTATION]: null } } });
  assert.deepEqual(requestPatch(null), { metadata: { annotations: { [REQUEST_ANNOTATION]: null } } });
  assert.deepEqual(clearRequestPatch('{"by":"a"}'), [
    { op: "test", path: "/metadata/annotations/kreboot.dev~1reboot-requested", value: '{"by":"a"}' },
    { op: "remove", path: "/metadata/annotations/kreboot.dev~1reboot-requested" },
  ]);
});

Deno.test("after a reboot: the request to remove is the satisfied one or one without a boot ID, as recorded", () => {
  const satisfied = encodeRequest({ by: "bob", since: "t", bootId: "boot-1" });
  assert.equal(requestToClearAfterReboot(node({ [REQUEST_ANNOTATION]: satisfied }, "boot-2")), satisfied);
  assert.equal(requestToClearAfterReboot(node({ [REQUEST_ANNOTATION]: satisfied }, "boot-1")), undefined);
  const noBoot = encodeRequest({ by: "bob", since: "t" });
  assert.equal(requestToClearAfterReboot(node({ [REQUEST_ANNOTATION]: noBoot }, "boot-2")), noBoot);
  assert.equal(requestToClearAfterReboot(node({ [REQUEST_ANNOTATION]: "garbage" }, "boot-2")), undefined);
  assert.equal(requestToClearAfterReboot(node({}, "boot-2")), undefined);
  assert.equal(describeHold({ by: "alice", reason: "NIC", since: "t0" }), "alice since t0: NIC");
  assert.equal(describeHold({ by: "unknown", reason: "unreadable", since: "" }), "unknown: unreadable");
  assert.equal(describeRequest({ by: "bob", since: "t", reason: "kernel" }), "bob: kernel");
  assert.equal(describeRequest({ by: "bob", since: "t" }), "bob");
});
