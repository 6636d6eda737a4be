import assert from "node:assert/strict";
import {
  displayUrl,
  NotifyUrlError,
  parseNotifyUrl,
  secretsOf,
  slackHookToNotifyUrl,
  withSlackOverrides,
} from "../../../lib/report/notify/url.ts";
import { formatTemplate, scrub } from "../../../lib/report/notify/send.ts";

Deno.test("slack webhook URL: tokens become the hooks.slack.com path, botname and channel kept", () => {
  assert.deepEqual(parseNotifyUrl("slack://T000/B000/XXXX"), {
    kind: "slack",
    webhook: "https://hooks.slack.com/services/T000/B000/XXXX",
  });
  assert.deepEqual(parseNotifyUrl("slack://kreboot@T1/B2/x3?channel=ops&color=good&title=Reboots"), {
    kind: "slack",
    webhook: "https://hooks.slack.com/services/T1/B2/x3",
    botname: "kreboot",
    channel: "ops",
    color: "good",
    title: "Reboots",
  });
});

Deno.test("slack token URL: xoxb:SECRET@CHANNEL uses the Web API with the joined token", () => {
  assert.deepEqual(parseNotifyUrl("slack://xoxb:123-456-abc@C001CH4NN3L?botname=k"), {
    kind: "slack-api",
    token: "xoxb-123-456-abc",
    channel: "C001CH4NN3L",
    botname: "k",
  });
});

Deno.test("teams URL: the org-specific webhook is rebuilt from the parts", () => {
  assert.deepEqual(
    parseNotifyUrl("teams://grp@tenant/alt/owner/extra?host=contoso.webhook.office.com&title=T"),
    {
      kind: "teams",
      webhook: "https://contoso.webhook.office.com/webhookb2/grp@tenant/IncomingWebhook/alt/owner/extra",
      title: "T",
    },
  );
});

Deno.test("generic URL: scheme picks http(s), reserved keys consumed, others forwarded, @headers and $extras", () => {
  const t = parseNotifyUrl(
    "generic+https://hooks.example.com/x/y?a=1&method=put&titlekey=subject&@X-Key=k&$env=prod&_method=keep",
  );
  assert.deepEqual(t, {
    kind: "generic",
    url: "https://hooks.example.com/x/y?a=1&method=keep",
    method: "PUT",
    contentType: "application/json",
    template: "json",
    titleKey: "subject",
    messageKey: "message",
    headers: { "X-Key": "k" },
    extra: { env: "prod" },
  });
  const plain = parseNotifyUrl("generic+http://127.0.0.1:9/hook");
  assert.equal(plain.kind === "generic" && plain.url, "http://127.0.0.1:9/hook");
  const disabled = parseNotifyUrl("generic://example.com/h?disabletls=yes");
  assert.equal(disabled.kind === "generic" && disabled.url, "http://example.com/h");
  const https = parseNotifyUrl("generic://example.com/h");
  assert.equal(https.kind === "generic" && https.url, "https://example.com/h");
  const text = parseNotifyUrl("generic+https://example.com/h?template=text");
  assert.equal(text.kind === "generic" && text.contentType, "text/plain; charset=utf-8");
});

Deno.test("smtp URL: credentials, port, addresses and options", () => {
  assert.deepEqual(
    parseNotifyUrl(
      "smtp://me%40x.org:p%40ss@mail.example.com:587/?fromAddress=k@x.org&toAddresses=a@x.org,%20b@x.org" +
        "&subject=Reboots&encryption=explicit&auth=login&fromName=kreboot",
    ),
    {
      kind: "smtp",
      host: "mail.example.com",
      port: 587,
      username: "me@x.org",
      password: "p@ss",
      from: "k@x.org",
      fromName: "kreboot",
      to: ["a@x.org", "b@x.org"],
      subject: "Reboots",
      encryption: "explicit",
      useStartTls: true,
      auth: "login",
      clientHost: "localhost",
    },
  );
  const d = parseNotifyUrl("smtp://relay/?fromAddress=k@x.org&toAddresses=a@x.org&useStartTLS=no");
  assert.ok(d.kind === "smtp");
  assert.equal(d.port, 25);
  assert.equal(d.useStartTls, false);
  assert.equal(d.username, undefined);
});

Deno.test("invalid notification URLs are refused with the forms that work", () => {
  const bad: [string, RegExp][] = [
    ["hooks.slack.com/services/a/b/c", /no scheme/],
    ["pushover://x/y", /not supported/],
    ["slack://T000/B000", /three token parts/],
    ["slack://T000/B000/X/Y", /three token parts/],
    ["slack://bogus:secret@C01", /token type/],
    ["teams://grp@tenant/alt/owner/extra", /host=/],
    ["teams://tenant/alt/owner/extra?host=o.webhook.office.com", /GROUP@TENANT/],
    ["teams://g@t/alt/owner?host=o.webhook.office.com", /GROUP@TENANT/],
    ["teams+https://prod-00.westus.logic.azure.com", /whole HTTP URL of the flow/],
    ["teams+https://user:pw@prod-00.westus.logic.azure.com/workflows/w", /no user or password/],
    ["generic+https://example.com/h?method=GET", /cannot carry a message body/],
    ["generic+https://example.com/h?template=fancy", /not supported/],
    ["generic+https://example.com/h?disabletls=maybe", /not yes or no/],
    ["smtp://mail.example.com/?toAddresses=a@x.org", /fromAddress/],
    ["smtp://mail.example.com/?fromAddress=k@x.org", /toAddresses/],
    ["smtp://mail.example.com/?fromAddress=k@x.org&toAddresses=nobody", /not an e-mail address/],
    ["smtp://m/?fromAddress=k@x.org&toAddresses=a@x.org&encryption=ssl3", /encryption/],
    ["smtp://m/?fromAddress=k@x.org&toAddresses=a@x.org&auth=cram-md5", /auth/],
  ];
  for (const [url, why] of bad) {
    assert.throws(() => parseNotifyUrl(url), (e: unknown) => {
      assert.ok(e instanceof NotifyUrlError, url);
      assert.match(e.message, why, url);
      assert.match(e.message, /^--notify-url: .*expected one of: slack:\/\//, url);
      return true;
    });
  }
});

Deno.test("kured's --slack-hook-url conversion, and the deprecated channel/username flags", () => {
  assert.equal(slackHookToNotifyUrl("https://hooks.slack.com/services/A/B/C"), "slack://A/B/C");
  assert.throws(() => slackHookToNotifyUrl("https://hooks.slack.com/services/A/B"), /services/);
  const converted = slackHookToNotifyUrl("https://hooks.slack.com/services/T9/B9/s3cr3t");
  assert.deepEqual(parseNotifyUrl(withSlackOverrides(converted, { channel: "ops", username: "rebooter" })), {
    kind: "slack",
    webhook: "https://hooks.slack.com/services/T9/B9/s3cr3t",
    botname: "rebooter",
    channel: "ops",
  });
  // The URL's own botname and channel win; other schemes and token URLs are left alone.
  const own = parseNotifyUrl(
    withSlackOverrides("slack://me@T/B/X?channel=mine", { channel: "x", username: "y" }),
  );
  assert.ok(own.kind === "slack");
  assert.equal(own.botname, "me");
  assert.equal(own.channel, "mine");
  assert.equal(withSlackOverrides("slack://xoxb:t@C1", { channel: "x" }), "slack://xoxb:t@C1");
  assert.equal(withSlackOverrides("teams://a@b/c/d/e?host=h", { channel: "x" }), "teams://a@b/c/d/e?host=h");
  assert.equal(withSlackOverrides("slack://T/B/X", {}), "slack://T/B/X");
});

Deno.test("message templates behave like Go's Sprintf with one node name", () => {
  assert.equal(formatTemplate("Draining node %s", "n1"), "Draining node n1");
  assert.equal(
    formatTemplate("Node %s rebooted & uncordoned successfully!", "w-3"),
    "Node w-3 rebooted & uncordoned successfully!",
  );
  assert.equal(formatTemplate("%v at 100%%", "n1"), "n1 at 100%");
  assert.equal(formatTemplate("node %q", "n1"), 'node "n1"');
  assert.equal(formatTemplate("%s and %s", "n1"), "n1 and %!s(MISSING)");
  assert.equal(formatTemplate("no verb here", "n1"), "no verb here");
});

Deno.test("no secret of any scheme survives into a log line", () => {
  const cases: [string, string[]][] = [
    ["slack://T0SECRETTEAM/B0SECRETHOOK/s3cr3tT0k3n", ["s3cr3tT0k3n", "B0SECRETHOOK", "T0SECRETTEAM"]],
    ["slack://bot@T0/B0/s3cr3tT0k3n?channel=ops", ["s3cr3tT0k3n"]],
    ["slack://xoxb:123-s3cr3tT0k3n@C001", ["s3cr3tT0k3n"]],
    ["teams://grpS3cret@tenant/altS3cret/ownerS3cret/extraS3cret?host=o.webhook.office.com", [
      "grpS3cret",
      "altS3cret",
      "ownerS3cret",
      "extraS3cret",
    ]],
    ["generic+https://hooks.example.com/p4thS3cret?token=tokS3cret&@X-Api-Key=h3aderS3cret", [
      "p4thS3cret",
      "tokS3cret",
      "h3aderS3cret",
    ]],
    ["smtp://user:passS3cret@mail.example.com:587/?fromAddress=a@x.org&toAddresses=b@x.org", ["passS3cret"]],
    [
      "teams+https://prod-00.westus.logic.azure.com:443/workflows/w1/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=s1gS3cret",
      ["s1gS3cret"],
    ],
  ];
  for (const [url, secrets] of cases) {
    const shown = displayUrl(url);
    for (const s of secrets) assert.ok(!shown.includes(s), `${s} leaked in ${shown}`);
    assert.match(shown, /\[REDACTED\]/);
    // An error message quoting the resolved request (fetch does) is scrubbed too.
    const target = parseNotifyUrl(url);
    const resolved = target.kind === "slack" || target.kind === "teams" || target.kind === "teams-workflows"
      ? target.webhook
      : target.kind === "generic"
      ? target.url
      : target.kind === "slack-api"
      ? `token ${target.token}`
      : `AUTH PLAIN with ${target.password}`;
    const err = scrub(`error sending request for url (${resolved}): connection refused`, secretsOf(target));
    for (const s of secrets) assert.ok(!err.includes(s), `${s} leaked in ${err}`);
    assert.match(err, /connection refused/);
  }
});
