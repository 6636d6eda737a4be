import assert from "node:assert/strict";
import { BLOCK_REASONS } from "../../../lib/gates/gate.ts";
import { Metrics, startMetricsServer } from "../../../lib/report/metrics.ts";

/** The value of one series in exposition text, or undefined when it is absent. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

Deno.test("metrics: every series exists from the start with zeros", async () => {
  const m = new Metrics("n1", { defaultMetrics: false });
  const t = await m.text();
  assert.match(t, /# HELP kured_reboot_required OS requires reboot due to software updates\./);
  assert.equal(sample(t, 'kured_reboot_required{node="n1"}'), 0);
  assert.equal(sample(t, 'kreboot_reboot_required{node="n1"}'), 0);
  assert.equal(sample(t, 'kreboot_phase{node="n1",phase="startup"}'), 1);
  assert.equal(sample(t, 'kreboot_phase{node="n1",phase="idle"}'), 0);
  assert.equal(sample(t, 'kreboot_reboot_blocked{node="n1",reason="window"}'), 0);
  assert.equal(sample(t, 'kreboot_slot_held{node="n1"}'), 0);
  assert.equal(sample(t, 'kreboot_held{node="n1",by="",reason=""}'), 0);
  assert.equal(sample(t, 'kreboot_evictions_total{node="n1",result="evicted"}'), 0);
  assert.equal(sample(t, 'kreboot_reboots_total{node="n1",result="ok"}'), 0);
  assert.equal(sample(t, 'kreboot_drain_duration_seconds_count{node="n1"}'), 0);
});

Deno.test("metrics: kreboot_reboot_blocked has one series per block reason, and its help lists them", async () => {
  const m = new Metrics("n1", { defaultMetrics: false });
  const t = await m.text();
  const labels = [...t.matchAll(/^kreboot_reboot_blocked\{node="n1",reason="([a-z-]+)"\} 0$/gm)].map((x) =>
    x[1]
  );
  assert.deepEqual(labels, [...BLOCK_REASONS]);
  assert.match(t, new RegExp(`# HELP kreboot_reboot_blocked .*\\(${BLOCK_REASONS.join(", ")}\\)`));
  m.setBlocked("sentinel-error");
  assert.equal(sample(await m.text(), 'kreboot_reboot_blocked{node="n1",reason="sentinel-error"}'), 1);
});

Deno.test("metrics: typed setters move the expected series", async () => {
  const m = new Metrics("n1", { defaultMetrics: false });
  m.setRebootRequired(true);
  m.setPhase("draining");
  m.setBlocked("alert");
  m.setSlotHeld(true);
  m.observeDrain(42);
  m.observeDrain(3);
  m.countEviction("evicted");
  m.countEviction("evicted");
  m.countEviction("retry-429");
  m.countReboot("ok");
  m.countReboot("failed");
  m.setLastReboot(new Date("2026-01-02T03:04:05Z"));
  let t = await m.text();
  assert.equal(sample(t, 'kured_reboot_required{node="n1"}'), 1);
  assert.equal(sample(t, 'kreboot_reboot_required{node="n1"}'), 1);
  assert.equal(sample(t, 'kreboot_phase{node="n1",phase="draining"}'), 1);
  assert.equal(sample(t, 'kreboot_phase{node="n1",phase="startup"}'), 0);
  assert.equal(sample(t, 'kreboot_reboot_blocked{node="n1",reason="alert"}'), 1);
  assert.equal(sample(t, 'kreboot_reboot_blocked{node="n1",reason="window"}'), 0);
  assert.equal(sample(t, 'kreboot_slot_held{node="n1"}'), 1);
  assert.equal(sample(t, 'kreboot_drain_duration_seconds_count{node="n1"}'), 2);
  assert.equal(sample(t, 'kreboot_drain_duration_seconds_sum{node="n1"}'), 45);
  assert.equal(sample(t, 'kreboot_drain_duration_seconds_bucket{le="5",node="n1"}'), 1);
  assert.equal(sample(t, 'kreboot_evictions_total{node="n1",result="evicted"}'), 2);
  assert.equal(sample(t, 'kreboot_evictions_total{node="n1",result="retry-429"}'), 1);
  assert.equal(sample(t, 'kreboot_reboots_total{node="n1",result="ok"}'), 1);
  assert.equal(sample(t, 'kreboot_reboots_total{node="n1",result="failed"}'), 1);
  assert.equal(sample(t, 'kreboot_last_reboot_timestamp_seconds{node="n1"}'), 1767323045);
  m.setBlocked(undefined);
  t = await m.text();
  assert.equal(sample(t, 'kreboot_reboot_blocked{node="n1",reason="alert"}'), 0);
  // Exactly one phase is 1 at a time.
  const phases = t.split("\n").filter((l) => l.startsWith("kreboot_phase{") && l.endsWith(" 1"));
  assert.equal(phases.length, 1);
});

Deno.test("metrics: two instances do not share a registry (no global state)", async () => {
  const a = new Metrics("a", { defaultMetrics: false });
  const b = new Metrics("b", { defaultMetrics: false });
  a.setRebootRequired(true);
  assert.equal(sample(await b.text(), 'kured_reboot_required{node="a"}'), undefined);
  assert.equal(sample(await a.text(), 'kured_reboot_required{node="a"}'), 1);
});

Deno.test("metrics server: /metrics with process metrics, /healthz follows the loop, 404 elsewhere", async () => {
  const m = new Metrics("n1");
  let healthy = true;
  const ac = new AbortController();
  const server = await startMetricsServer({
    host: "127.0.0.1",
    port: 0,
    metrics: m,
    healthy: () => healthy,
    signal: ac.signal,
  });
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.equal(sample(text, 'kured_reboot_required{node="n1"}'), 0);
    assert.match(text, /^process_resident_memory_bytes \d+/m);
    const ok = await fetch(`${base}/healthz`);
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), "ok\n");
    healthy = false;
    const bad = await fetch(`${base}/healthz`);
    assert.equal(bad.status, 503);
    await bad.body?.cancel();
    const nf = await fetch(`${base}/nope`);
    assert.equal(nf.status, 404);
    await nf.body?.cancel();
    const post = await fetch(`${base}/metrics`, { method: "POST" });
    assert.equal(post.status, 405);
    await post.body?.cancel();
  } finally {
    ac.abort();
    await server.shutdown();
    await server.finished;
  }
});

Deno.test("metrics server: a port in use is a clear error naming the flag", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    await assert.rejects(
      startMetricsServer({
        host: "127.0.0.1",
        port,
        metrics: new Metrics("n1", { defaultMetrics: false }),
        healthy: () => true,
        signal: new AbortController().signal,
      }),
      (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.equal(e.message, `--metrics-port ${port}: address already in use`);
        return true;
      },
    );
  } finally {
    taken.close();
  }
});

Deno.test("metrics server: aborting the signal stops it", async () => {
  const ac = new AbortController();
  const server = await startMetricsServer({
    host: "127.0.0.1",
    port: 0,
    metrics: new Metrics("n1", { defaultMetrics: false }),
    healthy: () => true,
    signal: ac.signal,
  });
  ac.abort();
  await server.finished;
  await server.shutdown();
  await assert.rejects(fetch(`http://127.0.0.1:${server.port}/healthz`));
});

Deno.test("metrics: a Metrics serves as the drain's hooks (onEviction, onDrained)", async () => {
  const m = new Metrics("n1", { defaultMetrics: false });
  const hooks: { onEviction?(r: "evicted" | "failed"): void; onDrained?(s: number, ok: boolean): void } = m;
  hooks.onEviction?.("failed");
  hooks.onDrained?.(12, false);
  const t = await m.text();
  assert.equal(sample(t, 'kreboot_evictions_total{node="n1",result="failed"}'), 1);
  assert.equal(sample(t, 'kreboot_drain_duration_seconds_sum{node="n1"}'), 12);
});

Deno.test("metrics: kreboot_held says who holds the node and why, one series at a time", async () => {
  const m = new Metrics("n1", { defaultMetrics: false });
  m.setHeld({ by: "alice", reason: 'NIC "firmware"', since: "2026-11-23T10:00:00Z" });
  let t = await m.text();
  assert.equal(sample(t, 'kreboot_held{node="n1",by="alice",reason="NIC \\"firmware\\""}'), 1);
  assert.equal(sample(t, 'kreboot_held{node="n1",by="",reason=""}'), undefined);
  m.setHeld({ by: "bob", reason: "disk", since: "" });
  t = await m.text();
  assert.equal([...t.matchAll(/^kreboot_held\{/gm)].length, 1, "the old hold's series is gone");
  assert.equal(sample(t, 'kreboot_held{node="n1",by="bob",reason="disk"}'), 1);
  m.setHeld(undefined);
  t = await m.text();
  assert.equal(sample(t, 'kreboot_held{node="n1",by="",reason=""}'), 0);
  assert.equal([...t.matchAll(/^kreboot_held\{/gm)].length, 1);
});
