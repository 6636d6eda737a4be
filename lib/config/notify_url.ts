/**
 * Validation of `--notify-url` (shoutrrr syntax) and kured's conversion of the deprecated
 * `--slack-hook-url`. Sending is lib/report/notify.ts's business; this only makes sure that a URL that
 * cannot work stops kreboot at start-up rather than failing silently at the first reboot.
 */

import { InvalidValue } from "./errors.ts";

/**
 * The schemes kreboot accepts. kured accepts every shoutrrr service; kreboot accepts the ones kured
 * documents and lib/report/notify sends to: slack, teams, generic webhooks, smtp.
 */
export const NOTIFY_SCHEMES = [
  "slack",
  "teams",
  "teams+https",
  "teams+http",
  "generic",
  "generic+http",
  "generic+https",
  "smtp",
] as const;
export type NotifyScheme = (typeof NOTIFY_SCHEMES)[number];

const EXPECTED = `a notification URL with a scheme among ${
  NOTIFY_SCHEMES.join(", ")
}, e.g. slack://T000/B000/XXXX`;

/** kured's `stripQuotes`: removes one pair of matching surrounding quotes when the string is longer than 2. */
export function stripQuotes(s: string): string {
  if (s.length > 2) {
    const first = s[0];
    if (first === s[s.length - 1] && (first === '"' || first === "'")) return s.slice(1, -1);
  }
  return s;
}

/** Returns the URL's scheme after checking the parts that scheme needs; throws `InvalidValue`. */
export function checkNotifyUrl(raw: string): NotifyScheme {
  const colon = raw.indexOf("://");
  if (colon <= 0) throw new InvalidValue(EXPECTED, "no scheme:// prefix");
  const scheme = raw.slice(0, colon).toLowerCase();
  const known = NOTIFY_SCHEMES.find((s) => s === scheme);
  if (known === undefined) throw new InvalidValue(EXPECTED, `unsupported scheme ${JSON.stringify(scheme)}`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidValue(EXPECTED, "not a parsable URL");
  }
  if (url.hostname === "") throw new InvalidValue(EXPECTED, `${scheme} needs a host part after ://`);
  const pathParts = url.pathname.split("/").filter((p) => p !== "");
  switch (known) {
    case "slack":
      // slack://[botname@]T/B/X (webhook) or slack://xoxb:TOKEN@CHANNEL (bot API)
      if (url.password === "" && pathParts.length !== 2) {
        throw new InvalidValue(EXPECTED, "slack needs slack://T000/B000/XXXX or slack://xoxb:TOKEN@CHANNEL");
      }
      break;
    case "teams":
      if (pathParts.length < 3 || !url.searchParams.get("host")) {
        throw new InvalidValue(
          EXPECTED,
          "teams needs teams://group@tenant/altId/groupOwner/extraId?host=ORG.webhook.office.com",
        );
      }
      break;
    case "smtp":
      if (!url.searchParams.get("fromAddress") || !url.searchParams.get("toAddresses")) {
        throw new InvalidValue(EXPECTED, "smtp needs ?fromAddress=…&toAddresses=…");
      }
      break;
    default:
      break;
  }
  return known;
}

/**
 * kured's conversion of `https://hooks.slack.com/services/A/B/C` to `slack://A/B/C`. kured only logs an
 * error when the path has the wrong shape and then sends nothing; kreboot refuses to start instead.
 */
export function slackHookToNotifyUrl(hook: string): string {
  const expected = "a Slack webhook URL such as https://hooks.slack.com/services/T000/B000/XXXX";
  let url: URL;
  try {
    url = new URL(hook);
  } catch {
    throw new InvalidValue(expected, "not a parsable URL");
  }
  const parts = url.pathname.replace(/^\/services\//, "").split("/").filter((p) => p !== "");
  if (parts.length !== 3 || !url.pathname.startsWith("/services/")) {
    throw new InvalidValue(expected, "the path must be /services/<T>/<B>/<X>");
  }
  return `slack://${parts.join("/")}`;
}
