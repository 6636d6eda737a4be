/**
 * `--notify-url` in shoutrrr syntax, parsed into the request a notifier makes. Only the services kured documents
 * are sent (Slack, Teams, generic webhooks, SMTP, and Teams through Workflows as `teams+https://`); the URL forms and query keys follow shoutrrr's docs so an
 * existing kured configuration keeps working. Parsing happens at start-up: a URL that cannot work is an error
 * then, not a silent failure at the first reboot.
 */
import { redact } from "../../log.ts";
import { parseTeamsWorkflows, type TeamsWorkflowsTarget, workflowsSecrets } from "./teams_workflows.ts";

/**
 * A notification URL that cannot work. `why` says what is wrong, `expected` what would work; the config check
 * (lib/config/notify_url.ts) turns both into a one-line error naming the flag.
 */
export class NotifyUrlError extends Error {
  override name = "NotifyUrlError";
  readonly flag: "notify-url" | "slack-hook-url";
  readonly why: string;
  readonly expected: string;

  constructor(flag: "notify-url" | "slack-hook-url", why: string, expected: string) {
    super(`--${flag}: ${why} (expected ${expected})`);
    this.flag = flag;
    this.why = why;
    this.expected = expected;
  }
}

export interface SlackWebhookTarget {
  kind: "slack";
  /** https://hooks.slack.com/services/T/B/X */
  webhook: string;
  botname?: string;
  channel?: string;
  color?: string;
  title?: string;
  icon?: string;
}

/** `slack://xoxb:TOKEN@CHANNEL`: the Web API (chat.postMessage) with a bot or user token. */
export interface SlackApiTarget {
  kind: "slack-api";
  token: string;
  channel: string;
  botname?: string;
  color?: string;
  title?: string;
  icon?: string;
}

export interface TeamsTarget {
  kind: "teams";
  /** https://ORG.webhook.office.com/webhookb2/GROUP@TENANT/IncomingWebhook/ALT/OWNER/EXTRA */
  webhook: string;
  color?: string;
  title?: string;
}

export interface GenericTarget {
  kind: "generic";
  url: string;
  method: string;
  contentType: string;
  /** json: `{"title":…, "message":…}` plus `$key` extras; text: the message as the body. */
  template: "json" | "text";
  titleKey: string;
  messageKey: string;
  title?: string;
  headers: Record<string, string>;
  extra: Record<string, string>;
}

export type SmtpEncryption = "auto" | "none" | "explicit" | "implicit";
export type SmtpAuth = "auto" | "none" | "plain" | "login";

export interface SmtpTarget {
  kind: "smtp";
  host: string;
  port: number;
  username?: string;
  password?: string;
  from: string;
  fromName?: string;
  to: string[];
  subject: string;
  /** auto: implicit TLS on port 465, else STARTTLS when the server offers it (and useStartTLS). */
  encryption: SmtpEncryption;
  useStartTls: boolean;
  auth: SmtpAuth;
  /** The name sent with EHLO. */
  clientHost: string;
}

export type NotifyTarget =
  | SlackWebhookTarget
  | SlackApiTarget
  | TeamsTarget
  | TeamsWorkflowsTarget
  | GenericTarget
  | SmtpTarget;

const FORMS = "slack://T000/B000/XXXX, slack://xoxb:TOKEN@CHANNEL, " +
  "teams://GROUP@TENANT/ALT/OWNER/EXTRA?host=ORG.webhook.office.com, teams+https://WORKFLOW-URL, " +
  "generic+https://HOST/PATH, " +
  "smtp://USER:PASS@HOST:PORT/?fromAddress=FROM&toAddresses=TO1,TO2";

function fail(why: string): never {
  throw new NotifyUrlError("notify-url", why, `one of: ${FORMS}`);
}

function base64Utf8(s: string): string {
  return new TextEncoder().encode(s).toBase64();
}

/** Query parameters with lower-cased keys (shoutrrr matches them case-insensitively). */
function query(url: URL): Map<string, string> {
  const q = new Map<string, string>();
  for (const [k, v] of url.searchParams) q.set(k.toLowerCase(), v);
  return q;
}

function optional<K extends string>(key: K, v: string | undefined): { [P in K]?: string } {
  return (v === undefined || v === "" ? {} : { [key]: v }) as { [P in K]?: string };
}

function yes(v: string | undefined, dflt: boolean): boolean {
  if (v === undefined || v === "") return dflt;
  if (/^(yes|true|1|on)$/i.test(v)) return true;
  if (/^(no|false|0|off)$/i.test(v)) return false;
  return fail(`${JSON.stringify(v)} is not yes or no`);
}

/** Parses a shoutrrr URL. Throws `NotifyUrlError` with the accepted forms when it cannot work. */
export function parseNotifyUrl(raw: string): NotifyTarget {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw);
  if (!m?.[1]) fail("no scheme:// prefix");
  const scheme = m[1].toLowerCase();
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail(`not a parsable URL`);
  }
  switch (scheme) {
    case "slack":
      return parseSlack(url);
    case "teams":
      return parseTeams(url);
    case "teams+https":
    case "teams+http": {
      const t = parseTeamsWorkflows(raw);
      return typeof t === "string" ? fail(t) : t;
    }
    case "generic":
    case "generic+http":
    case "generic+https":
      return parseGeneric(url, scheme);
    case "smtp":
      return parseSmtp(url);
    default:
      return fail(`scheme ${JSON.stringify(scheme)} is not supported for sending`);
  }
}

function pathParts(url: URL): string[] {
  return url.pathname.split("/").filter((p) => p !== "").map(decodeURIComponent);
}

function parseSlack(url: URL): SlackWebhookTarget | SlackApiTarget {
  const q = query(url);
  const common = {
    ...optional("color", q.get("color")),
    ...optional("title", q.get("title")),
    ...optional("icon", q.get("icon")),
  };
  const user = decodeURIComponent(url.username);
  if (url.password !== "") {
    // slack://xoxb:123-456-abc@C001CH4NN3L: token = user + "-" + password, channel = host.
    if (!/^xox[a-z]$/i.test(user)) {
      fail("a Slack API token URL needs the token type (xoxb, xoxp) as the user");
    }
    const channel = q.get("channel") || decodeURIComponent(url.hostname);
    if (!channel) fail("a Slack API token URL needs a channel as the host");
    return {
      kind: "slack-api",
      token: `${user}-${decodeURIComponent(url.password)}`,
      channel,
      ...optional("botname", q.get("botname")),
      ...common,
    };
  }
  // slack://[botname@]T000/B000/XXXX: the host is the first token part.
  const parts = [decodeURIComponent(url.hostname), ...pathParts(url)];
  if (parts.length !== 3 || parts.some((p) => p === "")) {
    fail("a Slack webhook URL needs exactly three token parts, slack://T000/B000/XXXX");
  }
  const [a, b, c] = parts.map((p) => encodeURIComponent(p));
  return {
    kind: "slack",
    webhook: `https://hooks.slack.com/services/${a}/${b}/${c}`,
    ...optional("botname", user || q.get("botname")),
    ...optional("channel", q.get("channel")),
    ...common,
  };
}

function parseTeams(url: URL): TeamsTarget {
  const q = query(url);
  const host = q.get("host");
  if (!host) fail("a Teams URL needs ?host=ORG.webhook.office.com (only org-specific webhooks work)");
  if (!/^[a-z0-9.-]+$/i.test(host)) fail(`${JSON.stringify(host)} is not a host name`);
  const group = decodeURIComponent(url.username);
  const tenant = decodeURIComponent(url.hostname);
  const parts = pathParts(url);
  if (!group || !tenant || parts.length !== 3) {
    fail("a Teams URL needs teams://GROUP@TENANT/ALT/OWNER/EXTRA");
  }
  const enc = (s: string) => encodeURIComponent(s);
  const [alt, owner, extra] = parts.map(enc);
  return {
    kind: "teams",
    webhook: `https://${host}/webhookb2/${enc(group)}@${
      enc(tenant)
    }/IncomingWebhook/${alt}/${owner}/${extra}`,
    ...optional("color", q.get("color")),
    ...optional("title", q.get("title")),
  };
}

/** Query keys the generic service consumes; `_key` passes a reserved key on to the target. */
const GENERIC_RESERVED = new Set([
  "contenttype",
  "disabletls",
  "method",
  "template",
  "title",
  "titlekey",
  "messagekey",
]);

function parseGeneric(url: URL, scheme: string): GenericTarget {
  const q = query(url);
  const forwarded = new URLSearchParams();
  const headers: Record<string, string> = {};
  const extra: Record<string, string> = {};
  for (const [k, v] of url.searchParams) {
    if (k.startsWith("@")) headers[k.slice(1)] = v;
    else if (k.startsWith("$")) extra[k.slice(1)] = v;
    else if (k.startsWith("_") && GENERIC_RESERVED.has(k.slice(1).toLowerCase())) {
      forwarded.append(k.slice(1), v);
    } else if (!GENERIC_RESERVED.has(k.toLowerCase())) forwarded.append(k, v);
  }
  const disableTls = yes(q.get("disabletls"), false);
  const protocol = scheme === "generic+http" || (scheme === "generic" && disableTls) ? "http" : "https";
  if (!url.hostname) fail("a generic webhook URL needs a host");
  // fetch refuses URLs with credentials: they become a Basic Authorization header (unless one is given).
  if (url.username && !Object.keys(headers).some((h) => h.toLowerCase() === "authorization")) {
    const user = decodeURIComponent(url.username);
    headers.Authorization = `Basic ${base64Utf8(`${user}:${decodeURIComponent(url.password)}`)}`;
  }
  const search = forwarded.toString();
  const template = (q.get("template") ?? "json").toLowerCase() || "json";
  if (template !== "json" && template !== "text") {
    fail(`generic template ${JSON.stringify(template)} is not supported (json or text)`);
  }
  const method = (q.get("method") || "POST").toUpperCase();
  if (!/^[A-Z]+$/.test(method) || method === "GET" || method === "HEAD") {
    fail(`generic method ${JSON.stringify(method)} cannot carry a message body`);
  }
  return {
    kind: "generic",
    url: `${protocol}://${url.host}${url.pathname}${search ? `?${search}` : ""}`,
    method,
    contentType: q.get("contenttype") ||
      (template === "json" ? "application/json" : "text/plain; charset=utf-8"),
    template,
    titleKey: q.get("titlekey") || "title",
    messageKey: q.get("messagekey") || "message",
    ...optional("title", q.get("title")),
    headers,
    extra,
  };
}

function parseSmtp(url: URL): SmtpTarget {
  const q = query(url);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (!host) fail("an SMTP URL needs a host");
  const from = q.get("fromaddress");
  if (!from) fail("an SMTP URL needs ?fromAddress=…");
  const to = (q.get("toaddresses") ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (to.length === 0) fail("an SMTP URL needs ?toAddresses=a@example.com,b@example.com");
  for (const addr of [from, ...to]) {
    if (!/^[^\s<>@,]+@[^\s<>@,]+$/.test(addr)) fail(`${JSON.stringify(addr)} is not an e-mail address`);
  }
  const port = url.port === "" ? 25 : Number(url.port);
  const encryption = (q.get("encryption") || "auto").toLowerCase();
  if (!["auto", "none", "explicit", "implicit"].includes(encryption)) {
    fail(`SMTP encryption ${JSON.stringify(encryption)} is not one of auto, none, explicit, implicit`);
  }
  const auth = (q.get("auth") || "auto").toLowerCase();
  const authMap: Record<string, SmtpAuth> = {
    auto: "auto",
    unknown: "auto",
    none: "none",
    plain: "plain",
    login: "login",
  };
  const authValue = authMap[auth];
  if (authValue === undefined) fail(`SMTP auth ${JSON.stringify(auth)} is not one of none, plain, login`);
  return {
    kind: "smtp",
    host,
    port,
    ...optional("username", decodeURIComponent(url.username)),
    ...optional("password", decodeURIComponent(url.password)),
    from,
    ...optional("fromName", q.get("fromname")),
    to,
    subject: q.get("subject") || "kreboot",
    encryption: encryption as SmtpEncryption,
    useStartTls: yes(q.get("usestarttls"), true),
    auth: authValue,
    clientHost: q.get("clienthost") || "localhost",
  };
}

/**
 * kured's conversion of the deprecated `--slack-hook-url` `https://hooks.slack.com/services/A/B/C` to
 * `slack://A/B/C`. kured only logs an error when the path has the wrong shape and then sends nothing; kreboot
 * refuses to start instead.
 */
export function slackHookToNotifyUrl(hook: string): string {
  const expected = "a Slack webhook URL such as https://hooks.slack.com/services/T000/B000/XXXX";
  let url: URL;
  try {
    url = new URL(hook);
  } catch {
    throw new NotifyUrlError("slack-hook-url", "not a parsable URL", expected);
  }
  const parts = url.pathname.replace(/^\/services\//, "").split("/").filter((p) => p !== "");
  if (parts.length !== 3 || !url.pathname.startsWith("/services/")) {
    throw new NotifyUrlError("slack-hook-url", "the path must be /services/<T>/<B>/<X>", expected);
  }
  return `slack://${parts.join("/")}`;
}

/**
 * Applies the deprecated `--slack-channel` / `--slack-username` to a `slack://` URL that does not name its own
 * channel or bot, so a kured configuration with all three flags sends where it meant to. Other URLs are
 * returned unchanged.
 */
export function withSlackOverrides(raw: string, o: { channel?: string; username?: string }): string {
  if (!/^slack:\/\//i.test(raw)) return raw;
  const url = new URL(raw);
  if (url.password !== "") return raw;
  if (o.username && !url.username) url.username = o.username;
  if (o.channel && !url.searchParams.has("channel")) url.searchParams.set("channel", o.channel);
  return url.toString();
}

/**
 * Strings that must never reach a log for this target: webhook URLs, tokens and passwords. Error messages
 * from fetch or the SMTP server can quote them, so they are scrubbed before logging (then `redact` runs too).
 */
export function secretsOf(t: NotifyTarget): string[] {
  switch (t.kind) {
    case "slack":
    case "teams":
      return [t.webhook, new URL(t.webhook).pathname];
    case "slack-api":
      return [t.token];
    case "teams-workflows":
      return workflowsSecrets(t);
    case "generic": {
      const u = new URL(t.url);
      return [
        t.url,
        u.pathname.length > 1 ? u.pathname : "",
        u.search,
        u.password,
        ...Object.values(t.headers),
      ]
        .filter((s) => s.length > 1);
    }
    case "smtp":
      return t.password
        ? [t.password, base64Utf8(`\0${t.username ?? ""}\0${t.password}`), base64Utf8(t.password)]
        : [];
  }
}

/**
 * The URL as it may appear in a log: `redact` from lib/log.ts, after blanking the values of generic-webhook
 * header parameters (`@Name=value`), which carry API keys under names `redact` cannot know.
 */
export function displayUrl(raw: string): string {
  return redact(raw.replace(/([?&]@[^=&]*=)[^&]*/g, "$1[REDACTED]"));
}
