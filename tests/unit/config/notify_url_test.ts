import assert from "node:assert/strict";
import {
  checkNotifyUrl,
  InvalidValue,
  NOTIFY_SCHEMES,
  slackHookToNotifyUrl,
  stripQuotes,
} from "../../../lib/config/mod.ts";

Deno.test("checkNotifyUrl accepts the supported shoutrrr schemes", () => {
  const good: [string, string][] = [
    ["slack://T000/B000/XXXX", "slack"],
    ["slack://kured@T000/B000/XXXX?channel=ops", "slack"],
    ["slack://xoxb:123-abc@C0123", "slack"],
    ["teams://group@tenant/altId/groupOwner/extraId?host=example.webhook.office.com", "teams"],
    [
      "teams+https://prod-00.westus.logic.azure.com:443/workflows/w/triggers/manual/paths/invoke?sig=s",
      "teams+https",
    ],
    ["teams+http://127.0.0.1:8080/workflows/w/triggers/manual/paths/invoke", "teams+http"],
    ["generic+https://example.com/hook?template=json", "generic+https"],
    ["generic+http://127.0.0.1:8080/hook", "generic+http"],
    ["generic://example.com/hook", "generic"],
    [
      "smtp://user:pass@mail.example.com:587/?fromAddress=k@example.com&toAddresses=a@example.com,b@example.com",
      "smtp",
    ],
  ];
  for (const [url, scheme] of good) assert.equal(checkNotifyUrl(url), scheme, url);
  assert.deepEqual(
    [...new Set(good.map(([, s]) => s))].sort(),
    [...NOTIFY_SCHEMES].sort(),
    "every accepted scheme has a case",
  );
});

Deno.test("checkNotifyUrl rejects unsupported or incomplete URLs", () => {
  const bad: [string, RegExp][] = [
    ["hooks.slack.com/services/A/B/C", /no scheme/],
    ["https://hooks.slack.com/services/A/B/C", /unsupported scheme "https"/],
    ["telegram://token@telegram?chats=1", /unsupported scheme "telegram"/],
    ["slack://T000/B000", /slack needs/],
    ["teams://group@tenant/altId/groupOwner/extraId", /teams needs/],
    ["smtp://mail.example.com:25/?toAddresses=a@example.com", /smtp needs/],
    ["generic+https://", /host/],
  ];
  for (const [url, why] of bad) {
    assert.throws(() => checkNotifyUrl(url), (e: unknown) => {
      assert.ok(e instanceof InvalidValue, url);
      assert.match(e.message, why, url);
      return true;
    });
  }
});

Deno.test("stripQuotes removes one matching pair, like kured", () => {
  assert.equal(stripQuotes(`"slack://a/b/c"`), "slack://a/b/c");
  assert.equal(stripQuotes(`'slack://a/b/c'`), "slack://a/b/c");
  assert.equal(stripQuotes(`"slack://a/b/c'`), `"slack://a/b/c'`);
  assert.equal(stripQuotes(`""`), `""`); // only when longer than 2
  assert.equal(stripQuotes(`"x"`), "x");
  assert.equal(stripQuotes(""), "");
});

Deno.test("slackHookToNotifyUrl converts a hooks.slack.com URL as kured does", () => {
  assert.equal(
    slackHookToNotifyUrl("https://hooks.slack.com/services/T000/B000/XXXX"),
    "slack://T000/B000/XXXX",
  );
  for (
    const bad of [
      "https://hooks.slack.com/services/T000/B000",
      "https://hooks.slack.com/x/T/B/X",
      "not a url",
    ]
  ) {
    assert.throws(() => slackHookToNotifyUrl(bad), InvalidValue, bad);
  }
});
