import assert from "node:assert/strict";
import { Logger } from "../../../lib/log.ts";
import { Notifier } from "../../../lib/report/notify/send.ts";
import { sendMail } from "../../../lib/report/notify/smtp.ts";
import { parseNotifyUrl, type SmtpTarget } from "../../../lib/report/notify/url.ts";

interface SinkOptions {
  /** AUTH mechanisms to advertise; none = no AUTH line. */
  auth?: string[];
  /** Reply to RCPT TO for this address. */
  rejectRcpt?: string;
  /** Never answer after the greeting. */
  stall?: boolean;
  /** Implicit TLS (SMTPS) with the test certificate. */
  tls?: boolean;
}

// A self-signed certificate for localhost / 127.0.0.1, made for this test only (not a secret of anything).
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBvDCCAWKgAwIBAgIUIy9E0yz7+G+bT2NzDS787EpPv9cwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyMzE5MjU1N1oYDzIxMjYxMDMw
MTkyNTU3WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAS7YDzMcJKHuCHMIOIniKlFUOT/n8tbfaNgA8vOEsFpUK9fWAmUUDwJ
OPcObpOSae1Y9N6Ywce/yE59bCPP25Mmo4GPMIGMMB0GA1UdDgQWBBQBTYjLZqOl
2z1+Pqt9Z7GlgvtBwjAfBgNVHSMEGDAWgBQBTYjLZqOl2z1+Pqt9Z7GlgvtBwjAa
BgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwDAYDVR0TAQH/BAIwADALBgNVHQ8E
BAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUHAwEwCgYIKoZIzj0EAwIDSAAwRQIhAJLS
ZhVHr3q7nzpmdeey5JbxZdI8yqwt33GEG3K1KRwqAiANtkKJsWhjHuA6p6iRjaYY
YNKbBQUexEXpt/HSUr8KWA==
-----END CERTIFICATE-----
`;
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgU13c0TQgZfFY8/yc
eM7GWHQpn8SYHJ+zIM/2phN8vwGhRANCAAS7YDzMcJKHuCHMIOIniKlFUOT/n8tb
faNgA8vOEsFpUK9fWAmUUDwJOPcObpOSae1Y9N6Ywce/yE59bCPP25Mm
-----END PRIVATE KEY-----
`;

interface Session {
  commands: string[];
  data: string;
  authUser?: string;
  authPass?: string;
}

/** A tiny SMTP server on loopback that records each session. */
function smtpSink(opts: SinkOptions = {}) {
  const listener: Deno.Listener = opts.tls
    ? Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: TEST_CERT, key: TEST_KEY })
    : Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const sessions: Session[] = [];
  const conns = new Set<Deno.Conn>();
  const enc = new TextEncoder();
  const handle = async (conn: Deno.Conn) => {
    const s: Session = { commands: [], data: "" };
    sessions.push(s);
    const send = (line: string) => conn.write(enc.encode(`${line}\r\n`));
    const dec = new TextDecoder();
    let buf = "";
    let inData = false;
    let loginStep = 0;
    await send("220 sink ESMTP");
    const chunk = new Uint8Array(4096);
    if (opts.stall) {
      // Read and never answer, until the client gives up and closes.
      while ((await conn.read(chunk).catch(() => null)) !== null) { /* swallow */ }
      return;
    }
    while (true) {
      const n = await conn.read(chunk).catch(() => null);
      if (n === null) return;
      buf += dec.decode(chunk.subarray(0, n));
      while (true) {
        if (inData) {
          const end = buf.indexOf("\r\n.\r\n");
          if (end < 0) break;
          s.data = buf.slice(0, end);
          buf = buf.slice(end + 5);
          inData = false;
          await send("250 queued");
          continue;
        }
        const i = buf.indexOf("\r\n");
        if (i < 0) break;
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (loginStep === 1) {
          s.authUser = atob(line);
          loginStep = 2;
          await send("334 UGFzc3dvcmQ6");
          continue;
        }
        if (loginStep === 2) {
          s.authPass = atob(line);
          loginStep = 0;
          await send("235 ok");
          continue;
        }
        s.commands.push(line.startsWith("AUTH PLAIN ") ? "AUTH PLAIN" : line);
        const verb = line.split(" ")[0]?.toUpperCase();
        if (verb === "EHLO") {
          const auth = opts.auth?.length ? [`250-AUTH ${opts.auth.join(" ")}`] : [];
          for (const l of ["250-sink", "250-8BITMIME", ...auth]) await send(l);
          await send("250 SIZE 1000000");
        } else if (verb === "AUTH" && line.startsWith("AUTH PLAIN ")) {
          const [, user, pass] = atob(line.slice(11)).split("\0");
          s.authUser = user ?? "";
          s.authPass = pass ?? "";
          await send("235 ok");
        } else if (verb === "AUTH") {
          loginStep = 1;
          await send("334 VXNlcm5hbWU6");
        } else if (verb === "MAIL") {
          await send("250 ok");
        } else if (verb === "RCPT") {
          await send(opts.rejectRcpt && line.includes(opts.rejectRcpt) ? "550 no such user" : "250 ok");
        } else if (verb === "DATA") {
          inData = true;
          await send("354 go ahead");
        } else if (verb === "QUIT") {
          await send("221 bye");
          return;
        } else {
          await send("502 unknown");
        }
      }
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      handle(conn).catch(() => {}).finally(() => {
        conns.delete(conn);
        try {
          conn.close();
        } catch {
          // closed by the client
        }
      });
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    sessions,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      await accepting;
    },
  };
}

function target(port: number, extra = "", userinfo = ""): SmtpTarget {
  const t = parseNotifyUrl(
    `smtp://${userinfo}127.0.0.1:${port}/?fromAddress=kreboot@example.org&toAddresses=ops@example.org,sre@example.org${extra}`,
  );
  assert.ok(t.kind === "smtp");
  return t;
}

function decodeBody(data: string): { headers: string; text: string } {
  const [headers = "", body = ""] = data.split("\r\n\r\n");
  const bin = atob(body.replace(/\r\n/g, ""));
  return { headers, text: new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))) };
}

Deno.test("SMTP: the sink receives the message for every recipient", async () => {
  await using sink = smtpSink();
  await sendMail(
    target(sink.port, "&subject=Reboots"),
    { subject: "ignored", text: "Rebooting node node-7" },
    AbortSignal.timeout(5_000),
  );
  const s = sink.sessions[0]!;
  assert.deepEqual(s.commands, [
    "EHLO localhost",
    "MAIL FROM:<kreboot@example.org>",
    "RCPT TO:<ops@example.org>",
    "RCPT TO:<sre@example.org>",
    "DATA",
    "QUIT",
  ]);
  const { headers, text } = decodeBody(s.data);
  assert.match(headers, /^From: kreboot@example\.org$/m);
  assert.match(headers, /^To: ops@example\.org, sre@example\.org$/m);
  assert.match(headers, /^Subject: ignored$/m);
  assert.match(headers, /^Date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$/m);
  assert.equal(text, "Rebooting node node-7");
});

Deno.test("SMTP: AUTH PLAIN and AUTH LOGIN on loopback", async () => {
  for (const mech of ["PLAIN", "LOGIN"]) {
    await using sink = smtpSink({ auth: [mech] });
    await sendMail(
      target(sink.port, "", "me%40x.org:p%40ss@"),
      { subject: "s", text: "t" },
      AbortSignal.timeout(5_000),
    );
    const s = sink.sessions[0]!;
    assert.equal(s.authUser, "me@x.org", mech);
    assert.equal(s.authPass, "p@ss", mech);
    assert.ok(s.commands.includes(mech === "PLAIN" ? "AUTH PLAIN" : "AUTH LOGIN"), s.commands.join(","));
  }
});

Deno.test("SMTP: lines starting with a dot are stuffed and arrive intact; non-ASCII subject is encoded", async () => {
  await using sink = smtpSink();
  // Base64 bodies never start a line with ".", so check the dot-stuffing through the raw DATA on a subject too.
  await sendMail(
    target(sink.port),
    { subject: "Neustart — Knoten n1", text: ".\nline\n.hidden" },
    AbortSignal.timeout(5_000),
  );
  const { headers, text } = decodeBody(sink.sessions[0]!.data);
  assert.equal(text, ".\r\nline\r\n.hidden");
  assert.match(headers, /^Subject: =\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=$/m);
});

Deno.test("SMTP: a refused recipient fails with the server's answer; credentials without AUTH offer fail", async () => {
  await using sink = smtpSink({ rejectRcpt: "sre@" });
  await assert.rejects(
    sendMail(target(sink.port), { subject: "s", text: "t" }, AbortSignal.timeout(5_000)),
    /RCPT TO:<sre@example\.org> with 550 no such user/,
  );
  await assert.rejects(
    sendMail(target(sink.port, "", "u:p@"), { subject: "s", text: "t" }, AbortSignal.timeout(5_000)),
    /offers no AUTH PLAIN or LOGIN/,
  );
});

Deno.test("SMTP: a stalled server is given up at the timeout, through the Notifier", async () => {
  await using sink = smtpSink({ stall: true });
  const lines: string[] = [];
  const log = new Logger({ format: "json", node: "n1", sink: (l) => lines.push(l) });
  const n = new Notifier({
    url: `smtp://u:s3cretPass@127.0.0.1:${sink.port}/?fromAddress=k@example.org&toAddresses=o@example.org`,
    timeoutMs: 300,
    log,
  });
  const t0 = performance.now();
  n.notify({ title: "t", message: "m" });
  await n.flush();
  const ms = performance.now() - t0;
  assert.ok(ms >= 290 && ms < 1_500, `gave up after ${ms} ms`);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /could not send the notification/);
  assert.ok(!lines[0]!.includes("s3cretPass"), lines[0]);
});

Deno.test("SMTP through the Notifier: the title becomes the default subject", async () => {
  await using sink = smtpSink();
  const lines: string[] = [];
  const n = new Notifier({
    url: `smtp://127.0.0.1:${sink.port}/?fromAddress=k@example.org&toAddresses=o@example.org`,
    timeoutMs: 5_000,
    log: new Logger({ format: "json", node: "n1", sink: (l) => lines.push(l) }),
  });
  n.notify({ title: "kreboot: n1", message: "Draining node n1" });
  await n.flush();
  const { headers, text } = decodeBody(sink.sessions[0]!.data);
  assert.match(headers, /^Subject: kreboot: n1$/m);
  assert.equal(text, "Draining node n1");
  assert.match(lines[0]!, /notification sent/);
});

Deno.test("SMTP: implicit TLS (SMTPS) with credentials", async () => {
  await using sink = smtpSink({ tls: true, auth: ["LOGIN", "PLAIN"] });
  const t = target(sink.port, "&encryption=implicit", "me:s3cret@");
  await sendMail(t, { subject: "s", text: "Rebooting node n1" }, AbortSignal.timeout(5_000), {
    caCerts: [TEST_CERT],
  });
  const s = sink.sessions[0]!;
  assert.equal(s.authPass, "s3cret");
  assert.ok(s.commands.includes("AUTH PLAIN"), s.commands.join(","));
  assert.equal(decodeBody(s.data).text, "Rebooting node n1");
  // Without trusting the certificate the handshake fails, and the error says where.
  await assert.rejects(
    sendMail(t, { subject: "s", text: "t" }, AbortSignal.timeout(5_000)),
    /^SmtpError: 127\.0\.0\.1:\d+: .*certificate/i,
  );
});
