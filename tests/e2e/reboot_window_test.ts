/**
 * `--reboot-window` on the daemon, against the real apiserver: a cron window closed now blocks with when it
 * next opens (in the log, the node condition and `kreboot status`); one open now lets the reboot go; one that
 * opens in a minute lets it go as it opens, without waiting for `--period`. The windows are in time zones other
 * than UTC, so a zone mistake shows as a wrong verdict.
 */
import assert from "node:assert/strict";
import type { StatusReport } from "../../lib/cli/status.ts";
import { findCondition } from "../../lib/report/condition.ts";
import { startCluster } from "../harness/mod.ts";
import { eventually, installKreboot, runKreboot, schedulable, slotsFree } from "./support.ts";

/** `--reboot-window` opening at `at` (rounded down to its minute) every day, in `tz`, for `duration`. */
function windowAt(at: Temporal.Instant, tz: string, duration: string): string {
  const z = at.toZonedDateTimeISO(tz);
  return `--reboot-window=cron=${z.minute} ${z.hour} * * *,duration=${duration},tz=${tz}`;
}

/** The next whole minute at least 20 s away, so the daemon is surely blocked before the window opens. */
function nextMinute(): Temporal.Instant {
  const now = Temporal.Now.zonedDateTimeISO("UTC");
  const next = now.round({ smallestUnit: "minute", roundingMode: "ceil" });
  return (next.since(now).total("second") < 20 ? next.add({ minutes: 1 }) : next).toInstant();
}

Deno.test("--reboot-window e2e", async (t) => {
  await using cluster = await startCluster();
  const install = await installKreboot(cluster, "win");
  const base = [...install.args, "--period=1h", "--concurrency=3"];
  const now = Temporal.Now.instant();

  await t.step(
    "a window closed now blocks with when it opens next; status and the condition say so",
    async () => {
      // Opens in 3 hours, Kolkata time (UTC+05:30), for 30 minutes.
      const opens = now.add({ hours: 3 });
      await cluster.createNode("win-closed");
      const d = await cluster.startDaemon("win-closed", {
        kubeconfig: install.kubeconfig,
        args: [...base, windowAt(opens, "Asia/Kolkata", "30m")],
        rebootRequired: true,
      });
      const line = await d.waitForJson((e) => e.reason === "RebootBlocked", 60_000);
      assert.equal(line.blockReason, "window");
      const when = opens.round({ smallestUnit: "minute", roundingMode: "floor" }).toString({
        smallestUnit: "minute",
      });
      assert.match(
        String(line.msg),
        /^outside the reboot windows \(every day 00:00-23:59:59 UTC and any of \[cron=/,
      );
      assert.ok(
        String(line.msg).endsWith(`next opens ${when}`),
        `${line.msg} should end with next opens ${when}`,
      );
      const status = await eventually("status says window", 30_000, async () => {
        const r = await runKreboot(cluster.cp.adminKubeconfig, ["status", "-o", "json", ...install.args]);
        const n = (JSON.parse(r.stdout) as StatusReport).nodes.find((x) => x.node === "win-closed");
        return n?.blockedBy === "window" ? n : undefined;
      });
      assert.ok(status.message?.endsWith(`next opens ${when}`), status.message);
      const cond = findCondition(await cluster.kube.core.readNode({ name: "win-closed" }));
      assert.equal(cond?.reason, "BlockedByWindow");
      assert.ok(await slotsFree(cluster, "win"), "a blocked node holds no slot");
      assert.ok(await schedulable(cluster, "win-closed"));
      assert.equal(d.reboots, 0);
      await d.stop();
    },
  );

  await t.step("a window open now lets the reboot go", async () => {
    // Opened 10 minutes ago in New York for an hour.
    await cluster.createNode("win-open");
    const d = await cluster.startDaemon("win-open", {
      kubeconfig: install.kubeconfig,
      args: [...base, windowAt(now.subtract({ minutes: 10 }), "America/New_York", "1h")],
      rebootRequired: true,
    });
    await d.waitForReboots(1, 60_000);
    assert.ok(!d.lines.some((l) => /RebootBlocked/.test(l.text)), "never blocked");
    await d.stop();
  });

  await t.step(
    "a window that opens in a minute lets the reboot go as it opens, not a period later",
    async () => {
      const opens = nextMinute();
      await cluster.createNode("win-soon");
      const d = await cluster.startDaemon("win-soon", {
        kubeconfig: install.kubeconfig,
        args: [...base, windowAt(opens, "Australia/Adelaide", "10m")],
        rebootRequired: true,
      });
      const line = await d.waitForJson((e) => e.reason === "RebootBlocked", 60_000);
      assert.equal(line.blockReason, "window");
      assert.ok(Temporal.Instant.compare(Temporal.Now.instant(), opens) < 0, "blocked before it opened");
      await d.waitForJson((e) => e.reason === "SlotAcquired", 90_000);
      const late = Temporal.Now.instant().since(opens).total("second");
      assert.ok(late >= 0 && late < 15, `took the slot ${late.toFixed(1)} s after the window opened`);
      await d.waitForReboots(1, 60_000);
      await d.stop();
    },
  );
});
