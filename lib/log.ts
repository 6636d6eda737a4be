/**
 * Structured logging: one line per event, text or JSON (`--log-format`), and every line carries the node
 * name and the current phase so that `kubectl logs` of any pod tells where it stood. Secrets (credentials in
 * URLs, bearer tokens) are redacted before a line is written.
 */

export const LOG_FORMATS = ["text", "json"] as const;
/** `--log-format`. */
export type LogFormat = (typeof LOG_FORMATS)[number];
export type LogLevel = "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

export interface LoggerOptions {
  format: LogFormat;
  node: string;
  phase?: string;
  /** Where lines go; stderr by default. Tests pass a collector. */
  sink?: (line: string) => void;
  /** The clock, for tests. */
  now?: () => Date;
}

const URL_PATTERN = /\b([a-z][a-z0-9+.-]*):\/\/([^\s"'<>]+)/gi;
const BEARER_PATTERN = /\b(bearer)\s+[A-Za-z0-9._~+/=-]+/gi;
const SECRET_PARAM = /^(token|access_token|key|apikey|api_key|password|pass|secret|sig|signature|auth)$/i;

/**
 * Removes what could be a secret from a string: userinfo and query credentials of URLs, the path of webhook
 * URLs (Slack and Teams put their tokens there), and bearer tokens.
 */
export function redact(text: string): string {
  return text
    .replace(URL_PATTERN, (whole, scheme: string, rest: string) => redactUrl(`${scheme}://${rest}`) ?? whole)
    .replace(BEARER_PATTERN, (_m, word: string) => `${word} [REDACTED]`);
}

function redactUrl(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  const scheme = url.protocol.replace(/:$/, "");
  const userinfo = url.username || url.password ? "[REDACTED]@" : "";
  const isPlainWeb = scheme === "http" || scheme === "https";
  // Webhook tokens live in the path for slack://, teams://, generic+https:// and hooks.slack.com alike; a
  // plain http(s) URL such as a Prometheus address keeps its path, since that is useful and not secret.
  const path = isPlainWeb && !/hooks\.slack\.com|webhook\.office\.com/i.test(url.host)
    ? url.pathname
    : url.pathname.length > 1
    ? "/[REDACTED]"
    : "";
  const params = [...url.searchParams.entries()].map(([k, v]) =>
    `${k}=${SECRET_PARAM.test(k) ? "[REDACTED]" : v}`
  );
  const host = scheme === "slack" && !url.username ? "[REDACTED]" : url.host;
  return `${scheme}://${userinfo}${host}${path}${params.length ? `?${params.join("&")}` : ""}`;
}

export class Logger {
  #format: LogFormat;
  #node: string;
  #phase: string;
  #sink: (line: string) => void;
  #now: () => Date;

  constructor(opts: LoggerOptions) {
    this.#format = opts.format;
    this.#node = opts.node;
    this.#phase = opts.phase ?? "startup";
    this.#sink = opts.sink ?? ((line) => console.error(line));
    this.#now = opts.now ?? (() => new Date());
  }

  get phase(): string {
    return this.#phase;
  }

  /** The phase every following line carries. */
  setPhase(phase: string): void {
    this.#phase = phase;
  }

  info(msg: string, fields: LogFields = {}): void {
    this.#write("info", msg, fields);
  }
  warn(msg: string, fields: LogFields = {}): void {
    this.#write("warn", msg, fields);
  }
  error(msg: string, fields: LogFields = {}): void {
    this.#write("error", msg, fields);
  }

  #write(level: LogLevel, msg: string, fields: LogFields): void {
    const time = this.#now().toISOString();
    const record: LogFields = { time, level, node: this.#node, phase: this.#phase, msg, ...fields };
    this.#sink(redact(this.#format === "json" ? JSON.stringify(record, jsonSafe) : textLine(record)));
  }
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (value instanceof Error) return value.message;
  if (typeof value === "bigint") return value.toString();
  return value;
}

function textLine(record: LogFields): string {
  return Object.entries(record)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${textValue(v)}`)
    .join(" ");
}

function textValue(v: unknown): string {
  const s = v instanceof Error ? v.message : typeof v === "string" ? v : JSON.stringify(v, jsonSafe) ?? "";
  return /^[^\s"=]+$/.test(s) ? s : JSON.stringify(s);
}
