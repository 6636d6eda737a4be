/**
 * The configuration's view of `--notify-url` and the deprecated `--slack-hook-url`: the sender's own parser
 * (lib/report/notify/url.ts) decides, so a URL that passes here is one kreboot can send to, and one that
 * cannot work stops kreboot at start-up rather than failing silently at the first reboot.
 */

import { NotifyUrlError, parseNotifyUrl, slackHookToNotifyUrl as convert } from "../report/notify/url.ts";
import { InvalidValue } from "./errors.ts";

/** Throws `InvalidValue` unless `raw` is a notification URL kreboot can send to. */
export function checkNotifyUrl(raw: string): void {
  asInvalidValue(() => parseNotifyUrl(raw));
}

/** kured's conversion of `https://hooks.slack.com/services/A/B/C` to `slack://A/B/C`; throws `InvalidValue`. */
export function slackHookToNotifyUrl(hook: string): string {
  return asInvalidValue(() => convert(hook));
}

function asInvalidValue<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof NotifyUrlError) throw new InvalidValue(e.expected, e.why);
    throw e;
  }
}
