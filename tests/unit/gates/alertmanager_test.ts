import assert from "node:assert/strict";
import { type AlertmanagerOptions, checkAlertmanager, parseAlerts } from "../../../lib/gates/alertmanager.ts";
import { closedPort, hang, json, withStandIn } from "./standin.ts";

const strict = { sanitizeOps: true, sanitizeResources: true };

type State = "active" | "suppressed" | "unprocessed";

/** A gettableAlert as Alertmanager v2 returns it. */
function alert(
  name: string | undefined,
  state: State,
  silencedBy: string[] = [],
  inhibitedBy: string[] = [],
) {
  return {
    labels: { ...(name === undefined ? {} : { alertname: name }), severity: "warning" },
    annotations: { summary: "x" },
    receivers: [{ name: "ops" }],
    fingerprint: `fp-${name ?? "none"}`,
    startsAt: "2026-11-20T10:00:00.000Z",
    updatedAt: "2026-11-20T10:00:00.000Z",
    endsAt: "2026-11-20T11:00:00.000Z",
    status: { state, silencedBy, inhibitedBy },
  };
}

/** Alertmanager's own filtering of GET /api/v2/alerts by its four booleans (api/v2/api.go getAlertsHandler). */
function alertmanager(alerts: ReturnType<typeof alert>[]) {
  return (req: Request): Response => {
    const q = new URL(req.url).searchParams;
    const flag = (k: string) => q.get(k) !== "false"; // each defaults to true
    return json(alerts.filter((a) => {
      if (!flag("active") && a.status.state === "active") return false;
      if (!flag("unprocessed") && a.status.state === "unprocessed") return false;
      if (!flag("silenced") && a.status.silencedBy.length > 0) return false;
      if (!flag("inhibited") && a.status.inhibitedBy.length > 0) return false;
      return true;
    }));
  };
}

const base = (url: string, more: Partial<AlertmanagerOptions> = {}): AlertmanagerOptions => ({
  url,
  alertFilterMatchOnly: false,
  alertFiringOnly: false,
  timeoutMs: 2000,
  ...more,
});

const FLEET = [
  alert("NodeDown", "active"),
  alert("Watchdog", "suppressed", ["silence-1"]),
  alert("DiskFull", "suppressed", [], ["inhibit-by-NodeDown"]),
];

Deno.test({
  name: "alertmanager: a silenced alert does not block, an unsilenced one does",
  ...strict,
  fn: async () => {
    await withStandIn(alertmanager([alert("Watchdog", "suppressed", ["silence-1"])]), async (url) => {
      assert.deepEqual(await checkAlertmanager(base(url)), { clear: true });
    });
    await withStandIn(alertmanager(FLEET), async (url) => {
      assert.deepEqual(await checkAlertmanager(base(url)), {
        clear: false,
        reason: "alert",
        message: "1 active Alertmanager alert (not silenced or inhibited): NodeDown",
      });
    });
  },
});

Deno.test({
  name: "alertmanager: asks GET /api/v2/alerts for unsilenced, uninhibited alerts, under a path prefix",
  ...strict,
  fn: () =>
    withStandIn(alertmanager([]), async (url, seen) => {
      assert.deepEqual(await checkAlertmanager(base(`${url}/am/`)), { clear: true });
      assert.equal(seen.length, 1);
      assert.equal(seen[0]?.method, "GET");
      assert.equal(seen[0]?.path, "/am/api/v2/alerts");
      assert.deepEqual(Object.fromEntries(seen[0]?.params ?? []), {
        active: "true",
        silenced: "false",
        inhibited: "false",
        unprocessed: "true",
      });
    }),
});

Deno.test({
  name: "alertmanager: an answer that ignores the query is still judged by each alert's status",
  ...strict,
  fn: () =>
    withStandIn(() => json([...FLEET, alert("Fresh", "unprocessed")]), async (url) => {
      assert.deepEqual(await checkAlertmanager(base(url)), {
        clear: false,
        reason: "alert",
        message: "2 active Alertmanager alerts (not silenced or inhibited): Fresh, NodeDown",
      });
    }),
});

Deno.test({
  name: "alertmanager: the filter flags mean what they mean for the Prometheus gate",
  ...strict,
  fn: () =>
    withStandIn(
      alertmanager([
        alert("RebootRequired", "active"),
        alert("CriticalDB", "active"),
        alert("CriticalSilenced", "suppressed", ["s"]),
        alert(undefined, "active"),
      ]),
      async (url) => {
        const ignore = await checkAlertmanager(base(url, { alertFilterRegexp: /^(RebootRequired|)$/ }));
        assert.deepEqual(ignore, {
          clear: false,
          reason: "alert",
          message: "1 active Alertmanager alert (not silenced or inhibited): CriticalDB",
        });
        const only = await checkAlertmanager(
          base(url, { alertFilterRegexp: /^Critical/, alertFilterMatchOnly: true }),
        );
        assert.ok(!only.clear);
        assert.match(only.message, /: CriticalDB$/);
        const none = await checkAlertmanager(
          base(url, { alertFilterRegexp: /^Nothing$/, alertFilterMatchOnly: true }),
        );
        assert.deepEqual(none, { clear: true });
        // Alertmanager holds firing alerts only: --alert-firing-only leaves every one of them counted.
        const all = await checkAlertmanager(base(url, { alertFiringOnly: true }));
        assert.ok(!all.clear);
        assert.match(
          all.message,
          /^3 active Alertmanager alerts \(not silenced or inhibited\): \(alert without alertname\), CriticalDB, RebootRequired$/,
        );
      },
    ),
});

async function blockedWith(opts: AlertmanagerOptions, pattern: RegExp): Promise<void> {
  const r = await checkAlertmanager(opts);
  assert.ok(!r.clear, "expected blocked");
  assert.equal(r.reason, "alert");
  assert.match(r.message, /^cannot query Alertmanager at .*, so reboots are blocked to be safe: /);
  assert.match(r.message, pattern);
}

Deno.test({
  name: "alertmanager: garbage blocks, saying what was wrong",
  ...strict,
  fn: async () => {
    const bodies: [() => Response, RegExp][] = [
      [() => new Response("<html>sign in</html>"), /the answer is not JSON: <html>sign in<\/html>$/],
      [() => json({ data: [] }), /expected a JSON array of alerts/],
      [() => json([{ status: { state: "active" } }]), /alert 0 has no labels/],
      [() => json([alert("A", "active"), { labels: { alertname: "B" } }]), /alert 1 has no status\.state/],
      [() => json([{ ...alert("A", "active"), status: { state: "firing" } }]), /no status\.state of active/],
      [() => json([{ labels: { alertname: 7 }, status: { state: "active" } }]), /non-string alertname/],
      [
        () => json([{ labels: { alertname: "A" }, status: { state: "active", silencedBy: "s" } }]),
        /not a list/,
      ],
      [() => new Response("internal error", { status: 500 }), /HTTP 500: internal error$/],
      [() => json("bad matcher", 400), /HTTP 400: "bad matcher"$/],
    ];
    for (const [answer, pattern] of bodies) {
      await withStandIn(answer, (url) => blockedWith(base(url), pattern));
    }
  },
});

Deno.test({
  name: "alertmanager: a hang is cut off at the timeout and blocks; so does a refused connection",
  ...strict,
  fn: async () => {
    await withStandIn(hang, async (url) => {
      const t0 = performance.now();
      await blockedWith(base(url, { timeoutMs: 150 }), /no answer within 150 ms$/);
      assert.ok(performance.now() - t0 < 2000);
    });
    await blockedWith(base(`http://127.0.0.1:${closedPort()}`), /Connection refused/);
  },
});

Deno.test({
  name: "alertmanager: credentials in the URL never reach the message",
  ...strict,
  fn: () =>
    withStandIn(() => new Response("unauthorized", { status: 401 }), async (url) => {
      const r = await checkAlertmanager(base(url.replace("http://", "http://admin:hunter2@")));
      assert.ok(!r.clear);
      assert.doesNotMatch(r.message, /hunter2/);
      assert.match(r.message, /HTTP 401: unauthorized$/);
    }),
});

Deno.test("parseAlerts: an empty list and missing silencedBy/inhibitedBy are fine", () => {
  assert.deepEqual(parseAlerts([]), []);
  assert.deepEqual(parseAlerts([{ labels: { alertname: "A" }, status: { state: "active" } }]), [
    { name: "A", suppressed: false },
  ]);
  assert.deepEqual(parseAlerts([{ labels: {}, status: { state: "suppressed" } }]), [
    { name: "", suppressed: true },
  ]);
});
