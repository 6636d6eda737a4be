import assert from "node:assert/strict";
import { Logger } from "../../../lib/log.ts";
import { httpRequest, Notifier, sendNotification } from "../../../lib/report/notify/send.ts";
import { parseNotifyUrl } from "../../../lib/report/notify/url.ts";

const FLOW = "prod-00.westus.logic.azure.com:443/workflows/0123abcd/triggers/manual/paths/invoke" +
  "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=S1GNATURE";

/** A stand-in for the flow's HTTP trigger on loopback: records requests, answers 202 like Workflows does. */
function flowTrigger(status = 202) {
  const received: { path: string; contentType: string | null; body: unknown }[] = [];
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    async (req) => {
      const u = new URL(req.url);
      received.push({
        path: u.pathname + u.search,
        contentType: req.headers.get("content-type"),
        body: await req.json(),
      });
      return new Response(status === 202 ? null : "Flow is disabled", { status });
    },
  );
  return {
    received,
    base: `127.0.0.1:${server.addr.port}`,
    async [Symbol.asyncDispose]() {
      ac.abort();
      await server.finished;
    },
  };
}

const ADAPTIVE = {
  type: "message",
  attachments: [{
    contentType: "application/vnd.microsoft.card.adaptive",
    contentUrl: null,
    content: {
      $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
      type: "AdaptiveCard",
      version: "1.4",
      body: [
        { type: "TextBlock", text: "kreboot: node-3", weight: "Bolder", size: "Medium", wrap: true },
        { type: "TextBlock", text: "Rebooting node node-3", wrap: true },
      ],
    },
  }],
};

Deno.test("teams+https:// is the flow's own URL: host, port, path and signed query are kept as given", () => {
  assert.deepEqual(parseNotifyUrl(`teams+https://${FLOW}`), {
    kind: "teams-workflows",
    // :443 is https's default port, which URL drops; everything else is byte for byte.
    webhook: `https://${FLOW.replace(":443", "")}`,
  });
  const t = parseNotifyUrl(`TEAMS+HTTPS://${FLOW}`);
  assert.ok(t.kind === "teams-workflows");
  const req = httpRequest(t, { title: "kreboot: node-3", message: "Rebooting node node-3" });
  assert.equal(req.method, "POST");
  assert.equal(req.headers["content-type"], "application/json");
  assert.deepEqual(JSON.parse(req.body), ADAPTIVE);
});

Deno.test("a Workflows trigger on loopback receives one Adaptive Card message at the flow's path and query", async () => {
  await using flow = flowTrigger();
  const path = "/workflows/0123abcd/triggers/manual/paths/invoke?api-version=1&sig=S1G";
  await sendNotification(
    parseNotifyUrl(`teams+http://${flow.base}${path}`),
    { title: "kreboot: node-3", message: "Rebooting node node-3" },
    { signal: AbortSignal.timeout(5_000) },
  );
  assert.deepEqual(flow.received, [{ path, contentType: "application/json", body: ADAPTIVE }]);
});

Deno.test("a refusing flow is a warning without its signature; the reboot goes on", async () => {
  await using flow = flowTrigger(403);
  const lines: string[] = [];
  const log = new Logger({ format: "json", node: "node-3", sink: (l) => lines.push(l) });
  const url = `teams+http://${flow.base}/workflows/w/triggers/manual/paths/invoke?sig=S1GS3CRET`;
  const notifier = new Notifier({ url, timeoutMs: 5_000, log });
  notifier.notify({ title: "kreboot: node-3", message: "Draining node node-3" });
  await notifier.flush();
  assert.equal(flow.received.length, 1);
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0] ?? "{}");
  assert.equal(line.level, "warn");
  assert.match(line.error, /HTTP 403/);
  assert.doesNotMatch(lines[0] ?? "", /S1GS3CRET/);
});
