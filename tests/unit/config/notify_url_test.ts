/**
 * `--notify-url` and `--slack-hook-url` as the configuration checks them: through the sender's own parser, so
 * what starts is what can be sent, and what cannot be sent is an exit-2 error naming the flag.
 */
import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../../lib/config/mod.ts";

function notifyUrl(value: string): string {
  return parseConfig([`--notify-url=${value}`], {}).config.notifyUrl;
}

Deno.test("--notify-url accepts the supported shoutrrr schemes", () => {
  for (
    const url of [
      "slack://T000/B000/XXXX",
      "slack://kured@T000/B000/XXXX?channel=ops",
      "slack://xoxb:123-abc@C0123",
      "teams://group@tenant/altId/groupOwner/extraId?host=example.webhook.office.com",
      "teams+https://prod-00.westus.logic.azure.com:443/workflows/w/triggers/manual/paths/invoke?sig=s",
      "teams+http://127.0.0.1:8080/workflows/w/triggers/manual/paths/invoke",
      "generic+https://example.com/hook?template=json",
      "generic+http://127.0.0.1:8080/hook",
      "generic://example.com/hook",
      "smtp://user:pass@mail.example.com:587/?fromAddress=k@example.com&toAddresses=a@example.com,b@example.com",
    ]
  ) assert.equal(notifyUrl(url), url);
});

Deno.test("--notify-url refuses, at start-up, every URL the sender could not use", () => {
  const bad: [string, RegExp][] = [
    ["hooks.slack.com/services/A/B/C", /no scheme/],
    ["https://hooks.slack.com/services/A/B/C", /scheme "https" is not supported/],
    ["telegram://token@telegram?chats=1", /scheme "telegram" is not supported/],
    ["slack://T000/B000", /three token parts/],
    ["teams://group@tenant/altId/groupOwner/extraId", /host=/],
    ["teams+https://prod-00.westus.logic.azure.com", /whole HTTP URL of the flow/],
    ["smtp://mail.example.com:25/?toAddresses=a@example.com", /fromAddress/],
    ["generic+https://", /host/],
    // Once only the sender refused these (at the first reboot); now the configuration does.
    ["generic+https://example.com/h?method=GET", /cannot carry a message body/],
    ["smtp://m/?fromAddress=k@x.org&toAddresses=nobody", /not an e-mail address/],
  ];
  for (const [url, why] of bad) {
    assert.throws(() => notifyUrl(url), (e: unknown) => {
      assert.ok(e instanceof ConfigError, url);
      assert.equal(e.flag, "notify-url", url);
      assert.match(e.message, /for --notify-url: expected one of: slack:\/\//, url);
      assert.match(e.message, why, url);
      return true;
    });
  }
});

Deno.test("surrounding quotes are stripped from --notify-url, like kured's stripQuotes", () => {
  assert.equal(notifyUrl(`"slack://a/b/c"`), "slack://a/b/c");
  assert.equal(notifyUrl(`'slack://a/b/c'`), "slack://a/b/c");
  // Only when longer than 2 (kured's rule): `""` stays as it is, and is not a URL.
  assert.throws(() => notifyUrl(`""`), /invalid value .* for --notify-url/);
});

Deno.test("--slack-hook-url converts a hooks.slack.com URL as kured does, or names the flag", () => {
  const convert = (hook: string) => parseConfig([`--slack-hook-url=${hook}`], {}).config.notifyUrl;
  assert.equal(convert("https://hooks.slack.com/services/T000/B000/XXXX"), "slack://T000/B000/XXXX");
  assert.equal(convert(`"https://hooks.slack.com/services/T000/B000/XXXX"`), "slack://T000/B000/XXXX");
  for (
    const bad of [
      "https://hooks.slack.com/services/T000/B000",
      "https://hooks.slack.com/x/T/B/X",
      "not a url",
    ]
  ) {
    assert.throws(
      () => convert(bad),
      (e: unknown) => e instanceof ConfigError && e.flag === "slack-hook-url",
    );
  }
});
