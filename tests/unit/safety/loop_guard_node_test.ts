/**
 * The reboot-loop guard on its Node (lib/safety/loop_guard_node.ts) against a fake Node: reboots that leave
 * the sentinel set are counted once per boot, the next reboot waits for --min-reboot-interval, the
 * --max-consecutive-reboots-th holds the node with the operators' hold (lib/node_control/), a person's
 * release (`kreboot unhold`) starts afresh, and a person's own hold is never replaced.
 */
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { Logger } from "../../../lib/log.ts";
import { HOLD_ANNOTATION, holdOf } from "../../../lib/node_control/mod.ts";
import { LOOP_ANNOTATION } from "../../../lib/safety/loop_guard.ts";
import { LOOP_GUARD_HOLDER, RebootLoopGuard } from "../../../lib/safety/loop_guard_node.ts";

const MIN = 60_000;

function world(opts: { minIntervalMs?: number; maxConsecutive?: number } = {}) {
  const node: k8s.V1Node = {
    metadata: { name: "n1", annotations: {} },
    status: { nodeInfo: { bootID: "boot-1" } as k8s.V1NodeSystemInfo },
  };
  const clock = { now: Date.parse("2026-03-01T10:00:00Z") };
  const patches: Record<string, string | null>[] = [];
  const counts: number[] = [];
  const announced: Promise<k8s.V1Node | undefined>[] = [];
  const kube = {
    dryRun: false,
    core: {
      readNode: () => Promise.resolve(structuredClone(node)),
      patchNode: (p: { body: { metadata: { annotations: Record<string, string | null> } } }) => {
        const a = p.body.metadata.annotations;
        patches.push(a);
        for (const [k, v] of Object.entries(a)) {
          if (v === null) delete node.metadata!.annotations![k];
          else node.metadata!.annotations![k] = v;
        }
        return Promise.resolve(node);
      },
    },
  };
  const guard = new RebootLoopGuard(kube as never, {
    node: "n1",
    minIntervalMs: opts.minIntervalMs ?? 60 * MIN,
    maxConsecutive: opts.maxConsecutive ?? 3,
    log: new Logger({ format: "json", node: "n1", sink: () => {} }),
    onCount: (n) => counts.push(n),
    nodeWrites: (w) => announced.push(w),
    now: () => clock.now,
  });
  const reboot = (bootID: string) => {
    node.status!.nodeInfo!.bootID = bootID;
  };
  return { node, clock, patches, counts, announced, guard, reboot };
}

Deno.test("loop guard on the Node: one reboot per --min-reboot-interval, then the node holds itself", async () => {
  const w = world({ minIntervalMs: 60 * MIN, maxConsecutive: 2 });
  assert.deepEqual(await w.guard.check(), { clear: true }, "no loop yet");
  assert.equal(w.patches.length, 0, "nothing to write");

  w.reboot("boot-2");
  assert.match(
    await w.guard.noteReboot(true) ?? "",
    /^reboot loop: 1 reboot in a row .* --min-reboot-interval \(1h0m0s\)/,
  );
  assert.equal(await w.guard.noteReboot(true) !== undefined, true);
  assert.equal(w.patches.length, 1, "a restart in recovering does not count the same boot twice");
  assert.equal(w.announced.length, 1, "the write is announced to the node watch");
  assert.equal((await w.announced[0])?.metadata?.annotations?.[LOOP_ANNOTATION] !== undefined, true);
  const blocked = await w.guard.check();
  assert.equal(blocked.clear, false);
  assert.ok(!blocked.clear && blocked.reason === "reboot-loop");
  assert.ok(
    !blocked.clear && blocked.retryAtMs === w.clock.now + 60 * MIN,
    "retried when the interval is over",
  );

  w.clock.now += 60 * MIN;
  assert.deepEqual(await w.guard.check(), { clear: true }, "the interval is over");

  w.reboot("boot-3");
  const held = await w.guard.noteReboot(true);
  assert.match(
    held ?? "",
    /2 reboots in a row .*--max-consecutive-reboots=2.*holds itself until a person releases it/,
  );
  const hold = holdOf(w.node);
  assert.equal(hold?.by, LOOP_GUARD_HOLDER);
  assert.equal(hold?.reason, held);
  assert.deepEqual(
    w.patches.slice(-2).map((p) => Object.keys(p)),
    [[HOLD_ANNOTATION], [LOOP_ANNOTATION]],
    "the hold first (node_control's writer), then the count that remembers it",
  );
  w.clock.now += 24 * 60 * MIN;
  const still = await w.guard.check();
  assert.ok(
    !still.clear && still.reason === "reboot-loop" && still.retryAtMs === undefined,
    "held: no interval ends it",
  );
  assert.equal(w.counts.at(-1), 2);

  // `kreboot unhold`: the guard starts afresh, and the reboot may go.
  delete w.node.metadata!.annotations![HOLD_ANNOTATION];
  assert.deepEqual(await w.guard.check(), { clear: true });
  assert.equal(w.node.metadata!.annotations![LOOP_ANNOTATION], undefined, "the count is gone");
  assert.equal(w.counts.at(-1), 0);
});

Deno.test("loop guard on the Node: a reboot that cleared the sentinel ends the loop; an unreadable sentinel changes nothing", async () => {
  const w = world();
  w.reboot("boot-2");
  await w.guard.noteReboot(true);
  w.reboot("boot-3");
  assert.equal(await w.guard.noteReboot(undefined), undefined);
  assert.match(w.node.metadata!.annotations![LOOP_ANNOTATION] ?? "", /"count":1/, "not counted, not reset");
  assert.equal(await w.guard.noteReboot(false), undefined);
  assert.equal(w.node.metadata!.annotations![LOOP_ANNOTATION], undefined);
  assert.deepEqual(await w.guard.check(), { clear: true });
});

Deno.test("loop guard on the Node: a person's hold is kept, and its release releases the guard too", async () => {
  const w = world({ maxConsecutive: 1 });
  const mine = JSON.stringify({ by: "alice", reason: "disk check", since: "2026-03-01T09:00:00Z" });
  w.node.metadata!.annotations![HOLD_ANNOTATION] = mine;
  w.reboot("boot-2");
  assert.match(await w.guard.noteReboot(true) ?? "", /holds itself/);
  assert.equal(w.node.metadata!.annotations![HOLD_ANNOTATION], mine, "alice's hold and reason stay");
  assert.equal((await w.guard.check()).clear, false);
  delete w.node.metadata!.annotations![HOLD_ANNOTATION];
  assert.deepEqual(await w.guard.check(), { clear: true });
});

Deno.test("loop guard on the Node: off (both settings 0) reads and writes nothing, but still names a sentinel that survived", async () => {
  const w = world({ minIntervalMs: 0, maxConsecutive: 0 });
  assert.equal(w.guard.off, true);
  assert.deepEqual(await w.guard.check(), { clear: true });
  assert.match(
    await w.guard.noteReboot(true) ?? "",
    /still there after the reboot; the reboot-loop guard is off/,
  );
  assert.equal(await w.guard.noteReboot(false), undefined);
  assert.equal(w.patches.length, 0);
});
