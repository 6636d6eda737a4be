import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { checkHold } from "../../../lib/gates/hold.ts";

Deno.test("hold gate: clear when not held; blocked with who, why, since when and how to lift it", async () => {
  assert.deepEqual(await checkHold("n1", () => Promise.resolve(undefined), 0), { clear: true });
  const hold = { by: "alice", reason: "NIC firmware debugging", since: "2026-11-23T10:00:00Z" };
  assert.deepEqual(await checkHold("n1", () => Promise.resolve(hold), 0), {
    clear: false,
    reason: "held",
    message:
      "held by alice since 2026-11-23T10:00:00Z: NIC firmware debugging; `kreboot unhold n1` lets it reboot",
  });
});

Deno.test("hold gate: a Node that cannot be read blocks (a hold never fails open) and is asked again soon", async () => {
  const r = await checkHold(
    "n1",
    () => Promise.reject(new k8s.ApiException(503, "unavailable", '{"message":"etcd down"}', {})),
    1_000,
  );
  assert.equal(r.clear, false);
  assert.ok(!r.clear && r.reason === "held" && r.retryAtMs === 11_000, JSON.stringify(r));
  assert.match(!r.clear ? r.message : "", /cannot read whether node n1 is held: HTTP 503: etcd down/);
});
