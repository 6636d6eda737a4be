import assert from "node:assert/strict";
import type { GateResult } from "../../lib/gates/gate.ts";
import {
  type AcquireRequest,
  type AcquireResult,
  type HolderState,
  LostSlotError,
  SlotKeeper,
} from "../../lib/lock/mod.ts";
import type { KeptLock } from "../../lib/lock/keeper.ts";
import { Logger } from "../../lib/log.ts";
import {
  type HeldSlotRecord,
  type LockPort,
  type NodeState,
  ONCE_EXIT,
  type Ports,
  RebootLoop,
} from "../../lib/loop.ts";
import { isWarning, type MachineConfig, type Phase, type Report } from "../../lib/machine/mod.ts";
import type { HealthVerdict } from "../../lib/safety/health.ts";

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
  /** Renewals of the slot Lease, with the time they were sent. */
  renewals: number[] = [];
  /** The API server is away: node reads and lock calls fail. */
  apiDown = false;
  /** When set, the cordon waits for this to resolve. */
  cordonGate: Promise<void> | undefined;
  keeperOptions = { ttlMs: 0, guardMs: 3_000, retryMs: 2_000, dryRun: false };
  keeper: SlotKeeper | undefined;
  /** Node reads so far, and which of them fail (the API server away at that moment). */
  nodeReads = 0;
  failNodeRead: (n: number) => boolean = () => false;
  gateChecks = 0;
  /** Gate checks and tries for the slot, in order. */
  steps: string[] = [];
  /** When the lock's watches were closed: how many calls had been made by then. */
  watchStops: number[] = [];
  /** What each wait on the lock ends with; afterwards "timeout". */
  lockWakes: ("changed" | "timeout")[] = [];
  /** Called on each wait on the lock, before it ends (the world changes meanwhile). */
  onLockWait: () => void = () => {};
  /** The nodes in the lock's queue, and what each try asked for. */
  queue = new Set<string>();
  requests: AcquireRequest[] = [];
  /**
   * The post-reboot health gate's verdict (default: healthy once the node is Ready), and when the loop asked
   * (the confirmation time it passed).
   */
  health: HealthVerdict | undefined;
  healthChecks: number[] = [];
  /** What recording a failed reboot answers: the breaker's pause reason when it opens. */
  breakerOpens: string | undefined;
  failGateCheck: (n: number) => boolean = () => false;
  /** Resolves the loop's pending wait for a hold or request change (the node watch of lib/node_control/). */
  controlChanged: (() => void) | undefined;
  /** How many times the loop started waiting for such a change. */
  controlWaits = 0;

  #api(): Promise<void> {
    return this.apiDown ? Promise.reject(new Error("connect ECONNREFUSED")) : Promise.resolve();
  }

  ports(me = "n1"): Ports {
    // deno-lint-ignore no-this-alias -- the port object's getters and methods read the world's state
    const w = this;
    const lock: LockPort & KeptLock = {
      get held() {
        return w.slotHolder === me ? w.slot : undefined;
      },
      mine: () => Promise.resolve(w.slotHolder === me ? w.slot : undefined),
      tryAcquire(state: HolderState, req?: AcquireRequest): Promise<AcquireResult> {
        w.calls.push("acquire");
        w.steps.push("acquire");
        w.requests.push(req ?? {});
        if (w.slotHolder && w.slotHolder !== me) {
          w.queue.add(me);
          return Promise.resolve({ acquired: false, reason: "full", message: `held by ${w.slotHolder}` });
        }
        w.queue.delete(me);
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
      async update(f: { phase?: string; releaseAfter?: Date | null }) {
        await w.#api();
        if (w.slotHolder !== me) throw new LostSlotError("kured-slot-0", w.slotHolder ?? "");
        if (w.slot && f.phase) w.slot.phase = f.phase;
        if (w.slot && f.releaseAfter) w.slot.releaseAfter = f.releaseAfter;
      },
      async renew() {
        await w.#api();
        if (w.slotHolder !== me) throw new LostSlotError("kured-slot-0", w.slotHolder ?? "");
        w.renewals.push(Date.now());
      },
      async stillHeld() {
        await w.#api();
        return w.slotHolder === me;
      },
      release() {
        w.calls.push("release");
        // Releasing a slot that is not ours is a no-op, never a steal.
        if (w.slotHolder === me) {
          w.slotHolder = undefined;
          w.slot = undefined;
        }
        return Promise.resolve();
      },
      get queued() {
        return w.queue.has(me);
      },
      leaveQueue() {
        w.calls.push("leave-queue");
        w.queue.delete(me);
        return Promise.resolve();
      },
      // A macrotask, so that a loop that keeps waiting lets the test's timers run.
      waitForChance: () => {
        w.onLockWait();
        const wake = w.lockWakes.shift() ?? "timeout";
        return new Promise((r) => setTimeout(() => r(wake), 1));
      },
      stopWatching: () => {
        w.watchStops.push(w.calls.length);
      },
    };
    // One keeper per daemon process: it outlives the loop's restarts, as in lib/daemon.ts.
    w.keeper ??= new SlotKeeper(lock, {
      ...w.keeperOptions,
      log: new Logger({ format: "json", node: me, sink: () => {} }),
    });
    return {
      sentinel: () => Promise.resolve({ required: w.sentinel }),
      gates: () =>
        w.#api().then(() => {
          w.steps.push("gates");
          if (w.failGateCheck(++w.gateChecks)) throw new Error("connect ECONNREFUSED");
          return w.gate;
        }),
      node: () =>
        w.#api().then(() => {
          if (w.failNodeRead(++w.nodeReads)) throw new Error("connect ECONNREFUSED");
          return { ...w.node };
        }),
      // The health gate reads the Node first, as lib/safety/recovery.ts does.
      health: (since) =>
        w.#api().then((): HealthVerdict => {
          if (w.failNodeRead(++w.nodeReads)) throw new Error("connect ECONNREFUSED");
          w.healthChecks.push(since);
          if (w.health) return w.health;
          return w.node.ready
            ? { state: "healthy" }
            : { state: "waiting", waitingFor: ["the node to be Ready"] };
        }),
      recordFailure(f) {
        w.calls.push(`record-failure:${f.kind}`);
        return Promise.resolve(w.breakerOpens);
      },
      noteReboot(required) {
        w.calls.push(`note-reboot:${required}`);
        return Promise.resolve(required ? "reboot loop: 1 reboot in a row" : undefined);
      },
      lock,
      keeper: w.keeper,
      async cordon() {
        w.calls.push("cordon");
        await w.cordonGate;
        w.node.unschedulable = true;
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
      nodeControlChanged: (signal) =>
        new Promise<void>((resolve) => {
          w.controlChanged = resolve;
          w.controlWaits++;
          signal.addEventListener("abort", () => resolve(), { once: true });
        }),
    };
  }
}

const machine: MachineConfig = {
  forceReboot: false,
  rebootDelayMs: 0,
  releaseDelayMs: 0,
  rebootTimeoutMs: 60_000,
  dryRun: false,
};

function loop(w: World, extra: Partial<MachineConfig> = {}, once = false) {
  w.keeperOptions.dryRun = extra.dryRun ?? false;
  const log = new Logger({ format: "json", node: "n1", sink: () => {} });
  return new RebootLoop(w.ports(), {
    machine: { ...machine, ...extra },
    periodMs: 60_000,
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
  w.keeper?.stop();
  w.keeper = undefined;
  clearInterval(t);
  clearTimeout(safety);
  assert.ok(until(), `stopped early in phase ${l.phase}; calls ${w.calls.join(",")}`);
}

Deno.test("RebootLoop: a full cycle across a simulated reboot ends uncordoned and released", async () => {
  const w = new World();
  await runUntil(w, loop(w), () => w.rebootRequested);
  assert.deepEqual(w.calls, ["acquire", "cordon", "drain", "reboot"]);
  // With a boot ID on the slot nothing is written after the acquisition: a changed boot ID will say the node
  // rebooted, and kreboot's cordon annotation that the drain was under way (lib/machine/startup.ts).
  assert.equal(w.slot?.phase, "cordoning");
  assert.equal(w.slot?.bootId, "boot-1");
  // The host reboots: new boot ID, sentinel gone, and a fresh daemon process starts.
  w.node.bootId = "boot-2";
  w.sentinel = false;
  w.calls = [];
  await runUntil(w, loop(w), () => w.slotHolder === undefined);
  assert.deepEqual(w.calls, ["note-reboot:false", "uncordon", "release"]);
  assert.equal(w.node.unschedulable, false);
  assert.ok(w.reports.some((r) => r.reason === "RebootConfirmed"));
});

Deno.test("RebootLoop: a health gate that timed out is a failed reboot, recorded before the slot goes back", async () => {
  const w = new World();
  w.slotHolder = "n1";
  w.slot = { name: "kured-slot-0", phase: "rebooting", bootId: "boot-0" };
  w.node.unschedulable = true;
  w.sentinel = true;
  w.health = { state: "timed-out", nodeReady: true, why: "not healthy within --recovery-timeout (1m0s)" };
  w.breakerOpens = "circuit breaker: 2 failed reboots within 24h0m0s (n0: x; n1: y)";
  const t0 = Date.now();
  await runUntil(w, loop(w), () => w.slotHolder === undefined);
  assert.deepEqual(w.calls, ["record-failure:health-timeout", "note-reboot:true", "uncordon", "release"]);
  assert.deepEqual(
    w.reports.map((r) => r.reason),
    [
      "RebootConfirmed",
      "RecoveryIncomplete",
      "CircuitBreakerOpen",
      "RebootLoop",
      "Uncordoned",
      "SlotReleased",
    ],
  );
  // The health gate counts from when the reboot was confirmed: this process's start of recovering.
  assert.ok((w.healthChecks[0] ?? 0) >= t0 && (w.healthChecks[0] ?? 0) <= Date.now());
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

Deno.test("RebootLoop: the lock is asked with the node's labels and one place in line; no longer required, it leaves the line", async () => {
  const w = new World();
  w.slotHolder = "n2";
  w.node.labels = { "topology.kubernetes.io/zone": "a" };
  const l = loop(w);
  await runUntil(w, l, () => w.requests.length >= 3);
  const since = w.requests.map((r) => r.requiredSinceMs);
  assert.ok(since[0] !== undefined && since.every((t) => t === since[0]), JSON.stringify(since));
  assert.deepEqual(w.requests[0]?.labels, { "topology.kubernetes.io/zone": "a" });
  assert.ok(w.queue.has("n1"));
  // The sentinel goes away while waiting: the node goes idle and gives up its place.
  w.sentinel = false;
  w.calls = [];
  await runUntil(w, loop(w), () => w.calls.includes("leave-queue"));
  assert.equal(w.queue.has("n1"), false);
  assert.ok(!w.calls.includes("acquire"));
});

Deno.test("RebootLoop: held back by a gate, a waiting node leaves the line and comes back to its old place", async () => {
  const w = new World();
  w.slotHolder = "n2";
  const l = loop(w);
  await runUntil(w, l, () => w.queue.has("n1"));
  const since = w.requests[0]?.requiredSinceMs;
  // Its PDB now allows nothing: in line, it would keep the nodes behind it waiting out its grace.
  w.gate = { clear: false, reason: "pdb", message: "drain would be refused" };
  await runUntil(w, l, () => w.calls.includes("leave-queue"));
  assert.equal(w.queue.has("n1"), false);
  w.gate = { clear: true };
  const tries = w.requests.length;
  await runUntil(w, l, () => w.requests.length > tries && w.queue.has("n1"));
  assert.equal(w.requests.at(-1)?.requiredSinceMs, since, "the same place in line as before");
});

Deno.test("RebootLoop: the watches a first try opens are closed when the node leaves required, unless to wait", async () => {
  // Taken at once: closed on the way to cordoning, before the cordon.
  const w = new World();
  await runUntil(w, loop(w), () => w.calls.includes("cordon"));
  assert.ok(w.watchStops.length >= 1, "closed on leaving required");
  assert.ok(w.watchStops[0]! <= w.calls.indexOf("cordon"), `closed before the cordon: ${w.watchStops}`);
  // Refused: kept for the wait, closed once the node leaves waiting (here: no reboot needed any more).
  const v = new World();
  v.slotHolder = "n2";
  let stopsAtWait = -1;
  v.onLockWait = () => {
    if (stopsAtWait < 0) stopsAtWait = v.watchStops.length;
    v.sentinel = false;
  };
  const l = loop(v);
  let stopsAtIdle = -1;
  await runUntil(v, l, () => {
    if (stopsAtWait < 0 || l.phase !== "idle") return false;
    // Counted when idle is first seen: the loop's own end closes them once more.
    if (stopsAtIdle < 0) stopsAtIdle = v.watchStops.length;
    return true;
  });
  assert.equal(stopsAtWait, 0, "kept from the first try into the wait");
  assert.equal(stopsAtIdle, 1, "closed on leaving waiting");
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Waits until `cond` holds (at most 5 s): a loaded machine runs timers late, never early. */
async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!cond() && Date.now() < deadline) await sleep(10);
}

Deno.test("RebootLoop: a slot held across a restart of the loop keeps being renewed (issue 13)", async () => {
  const w = new World();
  // Rebooted (new boot ID) and still NotReady: the node holds its slot in recovering.
  w.slotHolder = "n1";
  w.slot = { name: "kured-slot-0", phase: "rebooting", bootId: "boot-1" };
  w.node = { bootId: "boot-2", ready: false, unschedulable: true };
  w.keeperOptions = { ttlMs: 300, guardMs: 3_000, retryMs: 50, dryRun: false };
  // The second read of the Node (the first in recovering) fails: the API server went away.
  w.failNodeRead = (n) => n === 2;
  const l = loop(w);
  const keeper = w.keeper!;
  const ac = new AbortController();
  await assert.rejects(l.run(ac.signal), /ECONNREFUSED/);
  assert.equal(l.phase, "recovering");
  // While the caller backs off before running the loop again, the slot is renewed.
  const before = w.renewals.length;
  await until(() => w.renewals.length - before >= 3);
  assert.ok(w.renewals.length - before >= 3, `${w.renewals.length - before} renewals during the backoff`);
  // The loop runs again, still in recovering: renewals go on.
  const again = l.run(ac.signal);
  await until(() => w.renewals.length - before >= 5);
  ac.abort();
  await again;
  assert.ok(w.renewals.length - before >= 5, `${w.renewals.length - before} renewals in all`);
  assert.deepEqual(w.calls, []);
  // The node is Ready: the cycle ends, and an idle node renews nothing.
  w.node.ready = true;
  await runUntil(w, l, () => w.slotHolder === undefined);
  keeper.stop();
  assert.deepEqual(w.calls, ["note-reboot:true", "uncordon", "release"]);
  const idle = w.renewals.length;
  await sleep(250);
  assert.equal(w.renewals.length, idle);
});

Deno.test("RebootLoop: woken by the lock, a waiter tries for the slot first and checks the gates in cordoning", async () => {
  const w = new World();
  w.slotHolder = "n2";
  w.slot = { name: "kured-slot-0", phase: "draining" };
  // Two wake-ups: the first loses the slot to n3 (no new report), at the second the slot is free.
  w.lockWakes = ["changed", "changed"];
  let waits = 0;
  w.onLockWait = () => {
    waits++;
    if (waits === 1) w.slotHolder = "n3";
    if (waits === 2) w.slotHolder = undefined;
  };
  await runUntil(w, loop(w), () => w.calls.includes("cordon"));
  assert.deepEqual(w.steps, ["gates", "acquire", "acquire", "acquire", "gates"]);
  assert.deepEqual(w.calls.slice(0, 4), ["acquire", "acquire", "acquire", "cordon"]);
  const blocked = w.reports.filter((r) => r.reason === "RebootBlocked").map((r) => r.message);
  assert.deepEqual(blocked, ["held by n2"], "losing a race after a wake-up is no news");
});

Deno.test("RebootLoop: woken by the lock into a gate that now blocks, the slot goes straight back", async () => {
  const w = new World();
  w.slotHolder = "n2";
  w.lockWakes = ["changed"];
  w.onLockWait = () => {
    w.slotHolder = undefined;
    w.gate = { clear: false, reason: "alert", message: "an alert fires" };
  };
  await runUntil(w, loop(w), () => w.calls.includes("release"));
  assert.deepEqual(w.calls, ["acquire", "acquire", "release"], "never cordoned while blocked");
  assert.equal(w.slotHolder, undefined);
  assert.ok(w.reports.some((r) => r.reason === "RebootBlocked" && r.blockReason === "alert"));
});

Deno.test("RebootLoop: a restarted loop keeps guarding its slot: taken while cordoning, it retreats (issue 13)", async () => {
  const w = new World();
  w.keeperOptions = { ttlMs: 0, guardMs: 30, retryMs: 50, dryRun: false };
  // The second gate check (in cordoning, after taking the slot) fails: the loop throws out of run().
  w.failGateCheck = (n) => n === 2;
  const l = loop(w);
  const keeper = w.keeper!;
  const ac = new AbortController();
  await assert.rejects(l.run(ac.signal), /ECONNREFUSED/);
  assert.equal(l.phase, "cordoning");
  assert.deepEqual(w.calls, ["acquire"]);
  // Meanwhile another node takes the slot (its Lease was deleted and re-created, say).
  w.slotHolder = "n2";
  await until(() => keeper.lost !== undefined);
  assert.match(keeper.lost ?? "", /deleted or taken by another node/);
  assert.ok(keeper.lostSignal.aborted);
  await runUntil(w, l, () => w.calls.includes("release"));
  keeper.stop();
  assert.deepEqual(w.calls, ["acquire", "retreat", "release"], "never cordoned or drained without the slot");
  const lost = w.reports.find((r) => r.reason === "SlotLost");
  assert.ok(lost && isWarning(lost), JSON.stringify(w.reports));
  assert.equal(w.slotHolder, "n2", "the other node keeps its slot");
  assert.equal(keeper.lost, undefined, "cleared once the node no longer holds a slot");
});

Deno.test("RebootLoop: a slot lost during the cordon is seen before the drain; the node retreats", async () => {
  const w = new World();
  w.keeperOptions = { ttlMs: 0, guardMs: 30, retryMs: 50, dryRun: false };
  let open = () => {};
  w.cordonGate = new Promise<void>((r) => (open = r));
  const l = loop(w);
  const done = runUntil(w, l, () => w.calls.includes("release"));
  while (!w.calls.includes("cordon")) await sleep(5);
  w.slotHolder = "n2";
  await until(() => w.keeper?.lost !== undefined);
  open();
  await done;
  assert.deepEqual(w.calls, ["acquire", "cordon", "retreat", "release"]);
  assert.ok(w.reports.some((r) => r.reason === "SlotLost"));
});

Deno.test("RebootLoop: a request or an unhold wakes an idle or blocked node at once, not a period later", async () => {
  const w = new World();
  w.sentinel = false;
  const l = loop(w);
  const ac = new AbortController();
  const run = l.run(ac.signal);
  const wake = () => w.controlChanged?.();
  // Idle with a 60 s period: nothing happens until the watch says the control changed.
  await until(() => l.phase === "idle" && w.controlChanged !== undefined);
  assert.equal(l.phase, "idle");
  await sleep(50);
  assert.deepEqual(w.calls, []);
  w.sentinel = true; // what the sentinel port says once the request is seen
  w.gate = { clear: false, reason: "held", message: "held by alice: NIC firmware" };
  wake();
  const waits = w.controlWaits;
  await until(() => w.reports.some((r) => r.blockReason === "held") && w.controlWaits > waits);
  assert.equal(l.phase, "required");
  assert.deepEqual(w.calls, [], "a held node never tries for a slot");
  // Unheld: the blocked node goes on within moments, though its wait was a period.
  w.gate = { clear: true };
  wake();
  await until(() => w.calls.includes("acquire"));
  assert.ok((w.calls as string[]).includes("acquire"), "unheld: it takes the slot within moments");
  ac.abort();
  await run;
  w.keeper?.stop();
});
