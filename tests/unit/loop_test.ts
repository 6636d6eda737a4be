import assert from "node:assert/strict";
import type { GateResult } from "../../lib/gates/gate.ts";
import type { AcquireResult, HolderState } from "../../lib/lock.ts";
import { Logger } from "../../lib/log.ts";
import {
  type HeldSlotRecord,
  type LockPort,
  type NodeState,
  ONCE_EXIT,
  type Ports,
  RebootLoop,
} from "../../lib/loop.ts";
import type { MachineConfig, Phase, Report } from "../../lib/machine/mod.ts";

/** An in-memory world: one node, one slot, a host that "reboots" by changing its boot ID. */
class World {
  sentinel = true;
  gate: GateResult = { clear: true };
  node: NodeState = { bootId: "boot-1", ready: true, unschedulable: false };
  slotHolder: string | undefined;
  slot: HeldSlotRecord | undefined;
  calls: string[] = [];
  reports: Report[] = [];
  phases: Phase[] = [];
  rebootRequested = false;
  drainResult: { ok: true } | { ok: false; error: string } = { ok: true };

  ports(me = "n1"): Ports {
    // deno-lint-ignore no-this-alias -- the port object's getters and methods read the world's state
    const w = this;
    const lock: LockPort = {
      get held() {
        return w.slotHolder === me ? w.slot : undefined;
      },
      mine: () => Promise.resolve(w.slotHolder === me ? w.slot : undefined),
      tryAcquire(state: HolderState): Promise<AcquireResult> {
        w.calls.push("acquire");
        if (w.slotHolder && w.slotHolder !== me) {
          return Promise.resolve({ acquired: false, reason: "full", message: `held by ${w.slotHolder}` });
        }
        w.slotHolder = me;
        w.slot = {
          name: "kured-slot-0",
          phase: state.phase,
          ...(state.bootId ? { bootId: state.bootId } : {}),
        };
        return Promise.resolve({
          acquired: true,
          slot: { ...w.slot, resourceVersion: "1", holder: me, transitions: 0, problems: [] },
        });
      },
      update(f) {
        if (w.slot && f.phase) w.slot.phase = f.phase;
        if (w.slot && f.releaseAfter) w.slot.releaseAfter = f.releaseAfter;
        return Promise.resolve();
      },
      renew: () => Promise.resolve(),
      release() {
        w.calls.push("release");
        w.slotHolder = undefined;
        w.slot = undefined;
        return Promise.resolve();
      },
      waitForChance: () => Promise.resolve("timeout"),
      stopWatching: () => {},
    };
    return {
      sentinel: () => Promise.resolve({ required: w.sentinel }),
      gates: () => Promise.resolve(w.gate),
      node: () => Promise.resolve({ ...w.node }),
      daemonPodsReady: () => Promise.resolve(true),
      lock,
      cordon() {
        w.calls.push("cordon");
        w.node.unschedulable = true;
        return Promise.resolve();
      },
      drain() {
        w.calls.push("drain");
        return Promise.resolve(w.drainResult);
      },
      reboot() {
        w.calls.push("reboot");
        w.rebootRequested = true;
        return Promise.resolve();
      },
      describeReboot: () => "nsenter -t 1 -m -- /bin/systemctl reboot",
      uncordon() {
        w.calls.push("uncordon");
        w.node.unschedulable = false;
        return Promise.resolve();
      },
      retreat() {
        w.calls.push("retreat");
        w.node.unschedulable = false;
        return Promise.resolve();
      },
      report: (r) => void w.reports.push(r),
      phaseChanged: (p) => void w.phases.push(p),
    };
  }
}

const machine: MachineConfig = {
  forceReboot: false,
  rebootDelayMs: 0,
  releaseDelayMs: 0,
  rebootTimeoutMs: 60_000,
  recoveryTimeoutMs: 60_000,
  dryRun: false,
};

function loop(w: World, extra: Partial<MachineConfig> = {}, once = false) {
  const log = new Logger({ format: "json", node: "n1", sink: () => {} });
  return new RebootLoop(w.ports(), {
    machine: { ...machine, ...extra },
    periodMs: 60_000,
    lockTtlMs: 0,
    once,
    log,
    random: () => 0,
  });
}

/** Runs the loop until `until` holds, then aborts it. */
async function runUntil(w: World, l: RebootLoop, until: () => boolean): Promise<void> {
  const ac = new AbortController();
  const t = setInterval(() => until() && ac.abort(), 1);
  const safety = setTimeout(() => ac.abort(), 5_000);
  await l.run(ac.signal);
  clearInterval(t);
  clearTimeout(safety);
  assert.ok(until(), `stopped early in phase ${l.phase}; calls ${w.calls.join(",")}`);
}

Deno.test("RebootLoop: a full cycle across a simulated reboot ends uncordoned and released", async () => {
  const w = new World();
  await runUntil(w, loop(w), () => w.rebootRequested);
  assert.deepEqual(w.calls, ["acquire", "cordon", "drain", "reboot"]);
  assert.equal(w.slot?.phase, "rebooting");
  assert.equal(w.slot?.bootId, "boot-1");
  // The host reboots: new boot ID, sentinel gone, and a fresh daemon process starts.
  w.node.bootId = "boot-2";
  w.sentinel = false;
  w.calls = [];
  await runUntil(w, loop(w), () => w.slotHolder === undefined);
  assert.deepEqual(w.calls, ["uncordon", "release"]);
  assert.equal(w.node.unschedulable, false);
  assert.ok(w.reports.some((r) => r.reason === "RebootConfirmed"));
});

Deno.test("RebootLoop: a restart while draining resumes the drain and never releases as if rebooted", async () => {
  const w = new World();
  w.slotHolder = "n1";
  w.slot = { name: "kured-slot-0", phase: "draining", bootId: "boot-1" };
  w.node.unschedulable = true;
  await runUntil(w, loop(w), () => w.rebootRequested);
  assert.deepEqual(w.calls, ["drain", "reboot"]);
  assert.equal(w.slotHolder, "n1");
});

Deno.test("RebootLoop: a failed drain retreats and releases the slot", async () => {
  const w = new World();
  w.drainResult = { ok: false, error: "timed out waiting for web-1" };
  await runUntil(w, loop(w), () => w.calls.includes("release"));
  assert.deepEqual(w.calls, ["acquire", "cordon", "drain", "retreat", "release"]);
  assert.equal(w.node.unschedulable, false);
  assert.ok(w.reports.some((r) => r.reason === "DrainFailed"));
});

Deno.test("RebootLoop --once --dry-run: exit codes say what would happen, nothing is run", async () => {
  const idle = new World();
  idle.sentinel = false;
  assert.equal(
    await loop(idle, { dryRun: true }, true).run(new AbortController().signal),
    ONCE_EXIT.nothingToDo,
  );
  assert.deepEqual(idle.calls, []);

  const blocked = new World();
  blocked.gate = { clear: false, reason: "window", message: "outside the window" };
  assert.equal(
    await loop(blocked, { dryRun: true }, true).run(new AbortController().signal),
    ONCE_EXIT.blocked,
  );
  assert.deepEqual(blocked.calls, []);

  const would = new World();
  assert.equal(
    await loop(would, { dryRun: true }, true).run(new AbortController().signal),
    ONCE_EXIT.wouldReboot,
  );
  assert.equal(would.rebootRequested, false);
  assert.ok(!would.calls.includes("reboot"));
});

Deno.test("RebootLoop: a slot held by another node leaves this one waiting, not cordoned", async () => {
  const w = new World();
  w.slotHolder = "n2";
  assert.equal(await loop(w, {}, true).run(new AbortController().signal), ONCE_EXIT.blocked);
  assert.deepEqual(w.calls, ["acquire"]);
  assert.equal(w.node.unschedulable, false);
});
