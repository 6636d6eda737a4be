/**
 * Sending one notification to a parsed target: an HTTP request (Slack, Teams, generic webhook) built by a
 * pure function, or an SMTP exchange. A `Notifier` adds what the daemon needs around it: a time limit per
 * message, no waiting from the loop's point of view, and error logs that never show a secret.
 */
import { type Logger, redact } from "../../log.ts";
import { sendMail } from "./smtp.ts";
import { workflowsPayload } from "./teams_workflows.ts";
import { displayUrl, type NotifyTarget, parseNotifyUrl, secretsOf } from "./url.ts";

export interface Notification {
  title: string;
  message: string;
}

export interface HttpRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
}

const JSON_TYPE = "application/json";

/** The webhook request for an HTTP target. */
export function httpRequest(
  t: Exclude<NotifyTarget, { kind: "smtp" }>,
  n: Notification,
): HttpRequest {
  switch (t.kind) {
    case "slack":
    case "slack-api": {
      const body: Record<string, unknown> = {};
      if (t.color || t.title) {
        body.attachments = [{ fallback: n.message, text: n.message, title: t.title, color: t.color }];
      } else {
        body.text = n.message;
      }
      if (t.botname) body.username = t.botname;
      if (t.channel) body.channel = t.channel;
      if (t.icon) body[/^https?:/i.test(t.icon) ? "icon_url" : "icon_emoji"] = t.icon;
      if (t.kind === "slack") {
        return {
          url: t.webhook,
          method: "POST",
          headers: { "content-type": JSON_TYPE },
          body: JSON.stringify(body),
        };
      }
      return {
        url: "https://slack.com/api/chat.postMessage",
        method: "POST",
        headers: { "content-type": `${JSON_TYPE}; charset=utf-8`, authorization: `Bearer ${t.token}` },
        body: JSON.stringify(body),
      };
    }
    case "teams": {
      const card: Record<string, unknown> = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        summary: t.title ?? n.title,
        title: t.title ?? n.title,
        text: n.message,
      };
      if (t.color) card.themeColor = t.color;
      return {
        url: t.webhook,
        method: "POST",
        headers: { "content-type": JSON_TYPE },
        body: JSON.stringify(card),
      };
    }
    case "teams-workflows":
      return {
        url: t.webhook,
        method: "POST",
        headers: { "content-type": JSON_TYPE },
        body: JSON.stringify(workflowsPayload(n)),
      };
    case "generic": {
      const body = t.template === "json"
        ? JSON.stringify({ ...t.extra, [t.titleKey]: t.title ?? n.title, [t.messageKey]: n.message })
        : n.message;
      return { url: t.url, method: t.method, headers: { ...t.headers, "content-type": t.contentType }, body };
    }
  }
}

export interface SendOptions {
  signal: AbortSignal;
  fetch?: typeof fetch;
}

/** Sends one notification; rejects when the service did not accept it. */
export async function sendNotification(t: NotifyTarget, n: Notification, opts: SendOptions): Promise<void> {
  if (t.kind === "smtp") {
    await sendMail(
      t,
      { subject: t.subject === "kreboot" ? n.title : t.subject, text: n.message },
      opts.signal,
    );
    return;
  }
  const req = httpRequest(t, n);
  const doFetch = opts.fetch ?? fetch;
  const res = await doFetch(req.url, {
    method: req.method,
    headers: req.headers,
    body: req.body,
    signal: opts.signal,
    redirect: "error",
  });
  const text = await res.text().catch(() => "");
  if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}: ${text.slice(0, 200)}`.trim());
  if (t.kind === "slack-api") {
    // chat.postMessage answers 200 with {"ok":false,"error":…} when it refuses.
    let ok = false;
    let error = "unreadable answer";
    try {
      const parsed = JSON.parse(text) as { ok?: boolean; error?: string };
      ok = parsed.ok === true;
      error = parsed.error ?? error;
    } catch {
      // keep the defaults
    }
    if (!ok) throw new Error(`Slack refused the message: ${error}`);
  }
}

/** An error message with every secret of the target replaced, then redacted like any log line. */
export function scrub(message: string, secrets: readonly string[]): string {
  let out = message;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (s.length > 1) out = out.split(s).join("[REDACTED]");
  }
  return redact(out);
}

export interface NotifierOptions {
  /** `--notify-url` (after the `--slack-hook-url` conversion); "" = no notifications. */
  url: string;
  /** `--notify-timeout` in ms: a message that takes longer is given up. */
  timeoutMs: number;
  log: Logger;
  fetch?: typeof fetch;
}

/**
 * Fire-and-forget sending: `notify` returns at once; the message is sent in the background within the time
 * limit, and a failure is a warning in the log. `flush` waits for what is still in flight (at shutdown).
 */
export class Notifier {
  readonly target: NotifyTarget | undefined;
  #o: NotifierOptions;
  #shownUrl: string;
  #secrets: string[];
  #inFlight = new Set<Promise<void>>();

  /** Throws `NotifyUrlError` when the URL cannot work. */
  constructor(opts: NotifierOptions) {
    this.#o = opts;
    this.target = opts.url === "" ? undefined : parseNotifyUrl(opts.url);
    this.#shownUrl = displayUrl(opts.url);
    this.#secrets = this.target ? secretsOf(this.target) : [];
  }

  get enabled(): boolean {
    return this.target !== undefined;
  }

  /** Sends in the background; never throws, never waits. */
  notify(n: Notification): void {
    const t = this.target;
    if (!t) return;
    const p = this.send(t, n);
    this.#inFlight.add(p);
    p.finally(() => this.#inFlight.delete(p));
  }

  /** Sends and waits; a failure is logged, never thrown. */
  async send(t: NotifyTarget, n: Notification): Promise<void> {
    const started = performance.now();
    try {
      await sendNotification(t, n, {
        signal: AbortSignal.timeout(this.#o.timeoutMs),
        ...(this.#o.fetch ? { fetch: this.#o.fetch } : {}),
      });
      this.#o.log.info("notification sent", { to: this.#shownUrl, message: n.message });
    } catch (e) {
      const timedOut = e instanceof DOMException && e.name === "TimeoutError";
      const why = timedOut
        ? `no answer within --notify-timeout (${this.#o.timeoutMs} ms)`
        : e instanceof Error
        ? e.message
        : String(e);
      this.#o.log.warn("could not send the notification; the reboot goes on without it", {
        to: this.#shownUrl,
        error: scrub(why, this.#secrets),
        ms: Math.round(performance.now() - started),
      });
    }
  }

  /** Waits for notifications still in flight (each is bounded by the timeout). */
  async flush(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }
}

/**
 * kured's message templates are Go `fmt.Sprintf(template, nodeName)`. The first `%s` / `%v` is the node (`%q`
 * quotes it), `%%` is a percent sign, and further verbs show Go's `%!s(MISSING)`. Unlike Go, a template
 * without a verb does not get `%!(EXTRA string=…)` appended: that was never useful in a chat message.
 */
export function formatTemplate(template: string, node: string): string {
  let used = false;
  return template.replace(/%([%svq])/g, (_m, verb: string) => {
    if (verb === "%") return "%";
    if (used) return `%!${verb}(MISSING)`;
    used = true;
    return verb === "q" ? JSON.stringify(node) : node;
  });
}
