/**
 * Hostile input for `kreboot config`: thousands of seeded random flag/environment combinations (valid and
 * invalid values, unicode, control characters, huge and empty strings, stray and unknown arguments). Every one
 * must end in exit 0 or 2, with no stack trace; an exit 2 says one line naming what was wrong; an exit 0 prints
 * JSON that round-trips (`configToArgs` of the parsed configuration gives the same output again). Most runs go
 * through `configCommand` in-process — the very function main.ts calls — and a sample through real processes.
 */
import assert from "node:assert/strict";
import { configCommand } from "../../lib/cli/config_cmd.ts";
import { configToArgs, FLAGS, parseConfig } from "../../lib/config/mod.ts";
import { seededRandom } from "../harness/chaos.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Values by flag kind that should mostly parse. */
const VALID: Record<string, string[]> = {
  bool: ["true", "false", "1", "0", "t", "F", "TRUE"],
  duration: ["0s", "10s", "1h30m", "1.5h", "300ms", "2h45m10s", "0"],
  int: ["0", "1", "8080", "-1", "65535", "30"],
  concurrency: ["1", "3", "50%", "100%", "1%"],
  enum: ["command", "signal", "text", "json"],
  regexp: ["^Watchdog$", "", ".*", "Kube(Pod|Node).*"],
  selector: ["app=web", "app!=db,tier in (a,b)", "!legacy", "env"],
  string: ["node-1", "kube-system", "https://prom.example:9090", "kured", "weave.works/kured-node-lock"],
  stringArray: ["app=precious", "team=x,env=prod"],
  stringSlice: ["mo,tu", "su", "sunday,Monday", "0,6", "a=b,c=d", "role=worker"],
  timeOfDay: ["0:00", "23:59:59", "8:30", "17:00"],
  timeZone: ["UTC", "Local", "Europe/Berlin", "America/New_York"],
  command: ["/bin/systemctl reboot", "sh -c 'test -e /x'", 'echo "a b"'],
};

/** Values that should break something somewhere. */
function hostile(rnd: () => number): string {
  const pool = [
    "",
    " ",
    "\u0000",
    "\n",
    "a\nb",
    "\r\n--period=1s",
    "ü",
    "🚀🚀🚀",
    "\u202e\u200b",
    "日本語",
    "--",
    "-1",
    "-0",
    "NaN",
    "Infinity",
    "1e309",
    "9".repeat(400),
    "0x10",
    "1_000",
    "99999999999999999999999h",
    "-5s",
    "25:00",
    "23:60",
    "Mars/Olympus",
    "(",
    "[",
    "a=",
    "=b",
    "%",
    "101%",
    "0%",
    "'unbalanced",
    '"',
    "\\",
    "$(reboot)",
    "`id`",
    "slack://a:b@c/d/e",
    "smtp://user:secret@mail:25/?to=a@b",
    "https://hooks.slack.com/services/T/B/X",
    "generic+https://user:pw@example.com/hook",
    "x".repeat(1 + Math.floor(rnd() * 200_000)),
    "é".repeat(5_000),
    String.fromCharCode(...Array.from({ length: 40 }, () => Math.floor(rnd() * 0xd7ff))),
  ];
  return pool[Math.floor(rnd() * pool.length)] ?? "";
}

interface Case {
  args: string[];
  env: Record<string, string>;
}

function generate(rnd: () => number): Case {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const value = (kind: string) => rnd() < 0.6 ? pick(VALID[kind] ?? [""]) : hostile(rnd);
  const args: string[] = [];
  const env: Record<string, string> = {};
  const n = Math.floor(rnd() * 7);
  for (let i = 0; i < n; i++) {
    const flag = pick(FLAGS);
    const r = rnd();
    if (r < 0.45) args.push(`--${flag.name}=${value(flag.kind)}`);
    else if (r < 0.6) args.push(`--${flag.name}`, value(flag.kind));
    else if (r < 0.68 && flag.kind === "bool") args.push(`--${flag.name}`);
    else if (r < 0.88) env[pick(flag.env)] = value(flag.kind);
    else if (r < 0.92) args.push(`--${hostile(rnd)}`);
    else if (r < 0.95) args.push(hostile(rnd));
    else if (r < 0.97) args.push(pick(["-x", "-", "--", "---period=1s", "--=", "-period", "--Period=1s"]));
    else env[`KURED_${hostile(rnd).toUpperCase()}`] = hostile(rnd);
  }
  return { args, env };
}

function denoEnv(): Record<string, string> {
  const keep = ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR"];
  return Object.fromEntries(keep.flatMap((k) => {
    const v = Deno.env.get(k);
    return v === undefined ? [] : [[k, v]];
  }));
}

const STACK = /\n\s+at |Error: |TypeError|RangeError|SyntaxError|Uncaught/;

function checkOutput(c: Case, out: { code: number; stdout: string; stderr: string }): void {
  const what = `args ${JSON.stringify(c.args).slice(0, 300)} env ${JSON.stringify(c.env).slice(0, 300)}`;
  assert.ok(out.code === 0 || out.code === 2, `exit ${out.code} for ${what}\n${out.stderr.slice(0, 2000)}`);
  assert.doesNotMatch(out.stderr, STACK, `a stack trace or raw error for ${what}`);
  if (out.code === 2) {
    assert.equal(out.stdout, "", `nothing on stdout on exit 2 for ${what}`);
    const lines = out.stderr.trimEnd().split("\n").filter((l) => !l.startsWith("kreboot: warning:"));
    assert.equal(lines.length, 1, `one error line for ${what}: ${out.stderr.slice(0, 500)}`);
    assert.match(lines[0] ?? "", /^kreboot: /);
    // A bounded message even when the input was 200 kB.
    assert.ok((lines[0] ?? "").length < 4_000, `error line of ${lines[0]?.length} chars for ${what}`);
  }
}

Deno.test("2000 random flag/env combinations through `kreboot config`: exit 0 or 2, no stack, round-trip", () => {
  const rnd = seededRandom(20261123);
  const tally = { ok: 0, bad: 0 };
  for (let i = 0; i < 2000; i++) {
    const c = generate(rnd);
    let out;
    try {
      out = configCommand(c.args, c.env);
    } catch (e) {
      assert.fail(`case ${i} threw ${String(e)}: args ${JSON.stringify(c.args).slice(0, 300)}`);
    }
    checkOutput(c, out);
    if (out.code === 2) {
      tally.bad++;
      continue;
    }
    tally.ok++;
    if (c.args.some((a) => a === "--help" || a === "-h")) continue;
    const json = JSON.parse(out.stdout);
    assert.equal(typeof json, "object");
    // Round trip: the parsed configuration, written back as flags, prints the same configuration.
    const { config } = parseConfig(c.args, c.env);
    const again = configCommand(configToArgs(config), {});
    assert.equal(again.code, 0, `round trip of case ${i} failed: ${again.stderr}`);
    assert.equal(again.stdout, out.stdout, `case ${i} does not round-trip: ${JSON.stringify(c.args)}`);
  }
  // The generator must exercise both sides, or the test proves little.
  assert.ok(tally.ok > 200 && tally.bad > 200, `ok ${tally.ok}, bad ${tally.bad}`);
});

Deno.test("30 real `kreboot config` processes with hostile input: exit 0 or 2, no stack trace", async () => {
  const rnd = seededRandom(7);
  const cases = Array.from({ length: 30 }, () => generate(rnd)).map((c) => {
    // Process arguments and environment cannot carry NUL bytes; and keep the environment moderate.
    const clean = (s: string) => s.replaceAll("\u0000", "").slice(0, 50_000);
    return {
      args: c.args.map(clean),
      env: Object.fromEntries(
        Object.entries(c.env).map(([k, v]) => [clean(k), clean(v)]).filter(([k]) =>
          /^[A-Za-z_][A-Za-z0-9_]*$/.test(k ?? "")
        ),
      ),
    };
  });
  const decoder = new TextDecoder();
  const results = await Promise.all(cases.map(async (c) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "config", ...c.args],
      // Only what deno needs to find its cache, so that KURED_*/KREBOOT_* of the test's own environment stay out.
      env: { ...c.env, ...denoEnv(), NO_COLOR: "1" },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      c,
      out: { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) },
    };
  }));
  for (const { c, out } of results) {
    checkOutput(c, out);
    // The process prints exactly what the in-process function returns.
    const inProcess = configCommand(c.args, c.env);
    assert.equal(out.code, inProcess.code);
    assert.equal(out.stdout, inProcess.stdout);
  }
});
