import assert from "node:assert/strict";
import { Logger } from "../../../lib/log.ts";
import { httpRequest, Notifier, sendNotification } from "../../../lib/report/notify/send.ts";
import { parseNotifyUrl } from "../../../lib/report/notify/url.ts";

function collector(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger({ format: "json", node: "n1", sink: (l) => lines.push(l) }), lines };
}

interface Received {
  method: string;
  path: string;
  headers: Headers;
  body: string;
}

/** A loopback webhook that records requests and answers as told. */
function webhook(answer: (req: Request) => Promise<Response> | Response) {
  const received: Received[] = [];
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    async (req) => {
      received.push({
        method: req.method,
        path: new URL(req.url).pathname + new URL(req.url).search,
        headers: req.headers,
        body: await req.text(),
      });
      return await answer(req);
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

Deno.test("a generic webhook receives the JSON title and message with the node name", async () => {
  await using hook = webhook(() => new Response("ok"));
  const t = parseNotifyUrl(
    `generic+http://${hook.base}/hooks/reboots?src=kreboot&@X-Api-Key=k1&$cluster=prod`,
  );
  await sendNotification(t, { title: "kreboot: node-7", message: "Draining node node-7" }, {
    signal: AbortSignal.timeout(5_000),
  });
  assert.equal(hook.received.length, 1);
  const r = hook.received[0]!;
  assert.equal(r.method, "POST");
  assert.equal(r.path, "/hooks/reboots?src=kreboot");
  assert.equal(r.headers.get("content-type"), "application/json");
  assert.equal(r.headers.get("x-api-key"), "k1");
  assert.deepEqual(JSON.parse(r.body), {
    cluster: "prod",
    title: "kreboot: node-7",
    message: "Draining node node-7",
  });
});

Deno.test("a generic webhook URL with credentials sends them as Basic auth", async () => {
  await using hook = webhook(() => new Response("ok"));
  await sendNotification(parseNotifyUrl(`generic+http://bot:pa%3Ass@${hook.base}/h`), {
    title: "t",
    message: "m",
  }, { signal: AbortSignal.timeout(5_000) });
  assert.equal(hook.received[0]?.headers.get("authorization"), `Basic ${btoa("bot:pa:ss")}`);
});

Deno.test("a generic webhook with template=text and custom keys", async () => {
  await using hook = webhook(() => new Response(null, { status: 204 }));
  await sendNotification(parseNotifyUrl(`generic+http://${hook.base}/t?template=text`), {
    title: "x",
    message: "Rebooting node n2",
  }, { signal: AbortSignal.timeout(5_000) });
  await sendNotification(parseNotifyUrl(`generic+http://${hook.base}/k?titlekey=subject&messagekey=text`), {
    title: "T",
    message: "M",
  }, { signal: AbortSignal.timeout(5_000) });
  assert.equal(hook.received[0]?.body, "Rebooting node n2");
  assert.match(hook.received[0]?.headers.get("content-type") ?? "", /^text\/plain/);
  assert.deepEqual(JSON.parse(hook.received[1]?.body ?? ""), { subject: "T", text: "M" });
});

Deno.test("a webhook answering 500 is a logged warning, sent no longer than it takes", async () => {
  await using hook = webhook(() => new Response("boom", { status: 500 }));
  const { log, lines } = collector();
  const n = new Notifier({
    url: `generic+http://${hook.base}/p4thS3cret?token=t0kS3cret`,
    timeoutMs: 2_000,
    log,
  });
  const t0 = performance.now();
  n.notify({ title: "t", message: "Draining node n1" });
  const returned = performance.now() - t0;
  await n.flush();
  assert.ok(returned < 50, `notify() must not wait (${returned} ms)`);
  assert.equal(hook.received.length, 1);
  const warn = lines.map((l) => JSON.parse(l)).find((l) => l.level === "warn");
  assert.ok(warn, lines.join("\n"));
  assert.match(warn.error, /HTTP 500/);
  assert.match(warn.to, /^generic\+http:\/\/127\.0\.0\.1:\d+\/\[REDACTED\]\?token=\[REDACTED\]$/);
  assert.ok(!lines.join("\n").includes("S3cret"), lines.join("\n"));
});

Deno.test("a webhook that hangs is given up after --notify-timeout, and notify() returns at once", async () => {
  let release!: () => void;
  const hanging = new Promise<void>((r) => (release = r));
  await using hook = webhook(async () => {
    await hanging;
    return new Response("late");
  });
  const { log, lines } = collector();
  const n = new Notifier({ url: `generic+http://${hook.base}/slow`, timeoutMs: 300, log });
  const t0 = performance.now();
  n.notify({ title: "t", message: "Rebooting node n1" });
  const returned = performance.now() - t0;
  await n.flush();
  const total = performance.now() - t0;
  release();
  assert.ok(returned < 50, `notify() must not wait (${returned} ms)`);
  assert.ok(total >= 290 && total < 1_500, `gave up after ${total} ms, expected about 300`);
  const warn = lines.map((l) => JSON.parse(l)).find((l) => l.level === "warn");
  assert.match(warn?.error ?? "", /no answer within --notify-timeout \(300 ms\)/);
});

Deno.test("a refused connection is logged without the URL's secrets", async () => {
  // A port that was just free: nobody listens on it.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const { log, lines } = collector();
  const n = new Notifier({ url: `generic+http://127.0.0.1:${port}/hookS3cret`, timeoutMs: 2_000, log });
  n.notify({ title: "t", message: "m" });
  await n.flush();
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /could not send the notification/);
  assert.ok(!lines[0]!.includes("hookS3cret"), lines[0]);
});

Deno.test("no URL: notify does nothing", async () => {
  const { log, lines } = collector();
  const n = new Notifier({ url: "", timeoutMs: 100, log });
  assert.equal(n.enabled, false);
  n.notify({ title: "t", message: "m" });
  await n.flush();
  assert.deepEqual(lines, []);
});

Deno.test("slack, slack API and teams requests have the services' shapes", () => {
  const msg = { title: "kreboot: n1", message: "Rebooting node n1" };
  const slack = parseNotifyUrl("slack://bot@T1/B2/X3?channel=ops&icon=:recycle:");
  assert.ok(slack.kind === "slack");
  assert.deepEqual(httpRequest(slack, msg), {
    url: "https://hooks.slack.com/services/T1/B2/X3",
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ text: msg.message, username: "bot", channel: "ops", icon_emoji: ":recycle:" }),
  });
  const colored = parseNotifyUrl("slack://T1/B2/X3?color=warning&title=Reboots");
  assert.ok(colored.kind === "slack");
  assert.deepEqual(JSON.parse(httpRequest(colored, msg).body), {
    attachments: [{ fallback: msg.message, text: msg.message, title: "Reboots", color: "warning" }],
  });
  const api = parseNotifyUrl("slack://xoxb:1-2-3@C9");
  assert.ok(api.kind === "slack-api");
  const apiReq = httpRequest(api, msg);
  assert.equal(apiReq.url, "https://slack.com/api/chat.postMessage");
  assert.equal(apiReq.headers.authorization, "Bearer xoxb-1-2-3");
  assert.deepEqual(JSON.parse(apiReq.body), { text: msg.message, channel: "C9" });
  const teams = parseNotifyUrl("teams://g@t/a/o/e?host=org.webhook.office.com&color=ff0000");
  assert.ok(teams.kind === "teams");
  const teamsReq = httpRequest(teams, msg);
  assert.equal(teamsReq.url, "https://org.webhook.office.com/webhookb2/g@t/IncomingWebhook/a/o/e");
  assert.deepEqual(JSON.parse(teamsReq.body), {
    "@type": "MessageCard",
    "@context": "https://schema.org/extensions",
    summary: msg.title,
    title: msg.title,
    text: msg.message,
    themeColor: "ff0000",
  });
});

Deno.test("Slack's Web API refusal (200 with ok:false) is an error", async () => {
  const api = parseNotifyUrl("slack://xoxb:1-2-3@C9");
  const fakeFetch = (ok: boolean): typeof fetch => () =>
    Promise.resolve(
      new Response(JSON.stringify(ok ? { ok: true } : { ok: false, error: "channel_not_found" })),
    );
  await sendNotification(api, { title: "t", message: "m" }, {
    signal: AbortSignal.timeout(1_000),
    fetch: fakeFetch(true),
  });
  await assert.rejects(
    sendNotification(api, { title: "t", message: "m" }, {
      signal: AbortSignal.timeout(1_000),
      fetch: fakeFetch(false),
    }),
    /channel_not_found/,
  );
});
