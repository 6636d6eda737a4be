/**
 * A minimal SMTP submission client over `Deno.connect`: EHLO, STARTTLS or implicit TLS, AUTH PLAIN/LOGIN,
 * MAIL FROM, RCPT TO, DATA, QUIT. Enough to send one short plain-text notification; no pipelining, no
 * attachments. The whole exchange is bounded by the caller's AbortSignal (the connection is closed on abort).
 */
import type { SmtpTarget } from "./url.ts";

export interface MailContent {
  subject: string;
  text: string;
}

export class SmtpError extends Error {
  override name = "SmtpError";
}

const enc = new TextEncoder();

/** Base64 of a UTF-8 string (btoa alone fails on non-Latin-1 characters). */
function base64Utf8(s: string): string {
  return enc.encode(s).toBase64();
}

/** A header value, RFC 2047-encoded when it is not plain ASCII. */
function headerText(s: string): string {
  const oneLine = s.replace(/[\r\n]+/g, " ");
  return /^[\x20-\x7e]*$/.test(oneLine) ? oneLine : `=?UTF-8?B?${base64Utf8(oneLine)}?=`;
}

/** The RFC 5322 message: headers, then the body base64-encoded (safe for any server and any text). */
function formatMessage(t: SmtpTarget, content: MailContent, now: Date): string {
  const from = t.fromName ? `${headerText(t.fromName)} <${t.from}>` : t.from;
  const domain = t.from.split("@")[1] ?? "localhost";
  const id = `${now.getTime().toString(36)}.${crypto.randomUUID()}@${domain}`;
  const body = base64Utf8(content.text.replace(/\r?\n/g, "\r\n")).replace(/.{1,76}/g, "$&\r\n");
  return [
    `From: ${from}`,
    `To: ${t.to.join(", ")}`,
    `Subject: ${headerText(content.subject)}`,
    `Date: ${now.toUTCString().replace(/GMT$/, "+0000")}`,
    `Message-ID: <${id}>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: base64",
    "",
    body,
  ].join("\r\n");
}

interface Reply {
  code: number;
  lines: string[];
}

class Session {
  #conn: Deno.Conn;
  #buf = "";
  #dec = new TextDecoder();
  tls: boolean;

  constructor(conn: Deno.Conn, tls: boolean) {
    this.#conn = conn;
    this.tls = tls;
  }

  get conn(): Deno.Conn {
    return this.#conn;
  }

  async upgrade(hostname: string, caCerts: string[] | undefined): Promise<void> {
    this.#conn = await Deno.startTls(this.#conn as Deno.TcpConn, {
      hostname,
      ...(caCerts ? { caCerts } : {}),
    });
    this.#buf = "";
    this.tls = true;
  }

  async #line(): Promise<string> {
    while (true) {
      const i = this.#buf.indexOf("\r\n");
      if (i >= 0) {
        const line = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 2);
        return line;
      }
      const chunk = new Uint8Array(4096);
      const n = await this.#conn.read(chunk);
      if (n === null) throw new SmtpError("the SMTP server closed the connection");
      this.#buf += this.#dec.decode(chunk.subarray(0, n), { stream: true });
      if (this.#buf.length > 64 * 1024) throw new SmtpError("the SMTP server sent an over-long reply");
    }
  }

  async reply(): Promise<Reply> {
    const lines: string[] = [];
    while (true) {
      const line = await this.#line();
      const m = /^(\d{3})([ -]?)(.*)$/.exec(line);
      if (!m) throw new SmtpError(`not an SMTP reply: ${JSON.stringify(line.slice(0, 100))}`);
      lines.push(m[3] ?? "");
      if (m[2] !== "-") return { code: Number(m[1]), lines };
    }
  }

  async write(data: string): Promise<void> {
    const bytes = enc.encode(data);
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }

  /** Sends a command and checks the reply code. `shown` replaces the command in errors (credentials). */
  async cmd(line: string, expect: number[], shown = line): Promise<Reply> {
    await this.write(`${line}\r\n`);
    const r = await this.reply();
    if (!expect.includes(r.code)) {
      throw new SmtpError(
        `the SMTP server answered ${shown} with ${r.code} ${r.lines.join(" ").slice(0, 200)}`,
      );
    }
    return r;
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

export interface TlsOptions {
  /** Extra trusted CA certificates (PEM), e.g. a private mail relay's; the system roots stay trusted. */
  caCerts?: string[];
}

/** Sends one message; rejects with an `SmtpError` that says which step failed. */
export async function sendMail(
  t: SmtpTarget,
  content: MailContent,
  signal: AbortSignal,
  tls: TlsOptions = {},
): Promise<void> {
  signal.throwIfAborted();
  const implicit = t.encryption === "implicit" || (t.encryption === "auto" && t.port === 465);
  const caCerts = tls.caCerts ? { caCerts: tls.caCerts } : {};
  const connecting = implicit
    ? Deno.connectTls({ hostname: t.host, port: t.port, ...caCerts })
    : Deno.connect({ hostname: t.host, port: t.port });
  let session: Session | undefined;
  const onAbort = () => session?.close();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    const conn = await connecting.catch((e: unknown) => {
      throw new SmtpError(`cannot connect to ${t.host}:${t.port}: ${e instanceof Error ? e.message : e}`);
    });
    session = new Session(conn, implicit);
    if (signal.aborted) throw signal.reason;
    const s = session;
    const greeting = await s.reply();
    if (greeting.code !== 220) throw new SmtpError(`the SMTP server greeted with ${greeting.code}`);
    let ext = await hello(s, t.clientHost);
    const offersTls = ext.has("STARTTLS");
    const wantTls = t.encryption === "explicit" || (t.encryption === "auto" && t.useStartTls && offersTls);
    if (!s.tls && wantTls) {
      if (!offersTls) {
        throw new SmtpError(`${t.host}:${t.port} does not offer STARTTLS (encryption=explicit)`);
      }
      await s.cmd("STARTTLS", [220]);
      await s.upgrade(t.host, tls.caCerts);
      ext = await hello(s, t.clientHost);
    }
    if (t.username && t.auth !== "none") await authenticate(s, t, ext);
    await s.cmd(`MAIL FROM:<${t.from}>`, [250]);
    for (const to of t.to) await s.cmd(`RCPT TO:<${to}>`, [250, 251]);
    await s.cmd("DATA", [354]);
    // Dot-stuffing: a line that starts with "." gets another one, so it cannot end the DATA early.
    const data = formatMessage(t, content, new Date()).replace(/(^|\r\n)\./g, "$1..");
    await s.cmd(`${data}\r\n.`, [250], "the message");
    await s.cmd("QUIT", [221]).catch(() => {});
  } catch (e) {
    if (signal.aborted) {
      throw new SmtpError(`gave up talking to ${t.host}:${t.port}: ${String(signal.reason)}`);
    }
    if (e instanceof SmtpError) throw e;
    // TLS handshake failures surface at the first read: say where they came from.
    throw new SmtpError(`${t.host}:${t.port}: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    signal.removeEventListener("abort", onAbort);
    session?.close();
  }
}

/** EHLO (HELO when the server does not know it); returns the extension keywords, upper-cased. */
async function hello(s: Session, clientHost: string): Promise<Map<string, string>> {
  await s.write(`EHLO ${clientHost}\r\n`);
  const r = await s.reply();
  const ext = new Map<string, string>();
  if (r.code === 250) {
    for (const line of r.lines.slice(1)) {
      const [kw, ...rest] = line.trim().split(/\s+/);
      if (kw) ext.set(kw.toUpperCase(), rest.join(" ").toUpperCase());
    }
    return ext;
  }
  await s.cmd(`HELO ${clientHost}`, [250]);
  return ext;
}

async function authenticate(s: Session, t: SmtpTarget, ext: Map<string, string>): Promise<void> {
  if (!s.tls && !isLoopback(t.host)) {
    throw new SmtpError(
      `refusing to send SMTP credentials unencrypted to ${t.host}: use a server that offers STARTTLS, ` +
        "or encryption=implicit",
    );
  }
  const offered = (ext.get("AUTH") ?? "").split(" ");
  const mech = t.auth === "auto"
    ? (offered.includes("PLAIN") ? "plain" : offered.includes("LOGIN") ? "login" : "")
    : t.auth;
  if (mech === "") {
    throw new SmtpError(`${t.host} offers no AUTH PLAIN or LOGIN; remove the user from the URL or set auth=`);
  }
  const user = t.username ?? "";
  const pass = t.password ?? "";
  if (mech === "plain") {
    await s.cmd(`AUTH PLAIN ${base64Utf8(`\0${user}\0${pass}`)}`, [235], "AUTH PLAIN");
    return;
  }
  await s.cmd("AUTH LOGIN", [334]);
  await s.cmd(base64Utf8(user), [334], "the AUTH LOGIN user name");
  await s.cmd(base64Utf8(pass), [235], "the AUTH LOGIN password");
}
