/**
 * The process contract of the CLI: exit codes, one-line errors, no stack traces. These spawn `main.ts`, as an
 * operator's shell or the DaemonSet would.
 */
import assert from "node:assert/strict";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Runs main.ts with only `env`; a run that outlives `timeoutMs` is killed (SIGKILL), so a hang fails. */
async function kreboot(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", MAIN, ...args],
    env: { NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const out = await child.output().finally(() => clearTimeout(timer));
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("kreboot --version prints the version from deno.json", async () => {
  const r = await kreboot(["--version"]);
  const { version } = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), `kreboot ${version}`);
});

Deno.test("kreboot --help lists every subcommand with one line each, then the flags", async () => {
  for (const args of [["--help"], ["-h"], ["config", "--help"]]) {
    const r = await kreboot(args);
    assert.equal(r.code, 0, r.stderr);
    for (
      const sub of [
        "config",
        "status",
        "plan",
        "pause",
        "resume",
        "manifests",
        "hold",
        "unhold",
        "request-reboot",
      ]
    ) {
      const lines = r.stdout.split("\n").filter((l) => l.startsWith(`  ${sub} `));
      assert.equal(lines.length, 1, `${args.join(" ")}: one line for ${sub}:\n${r.stdout.slice(0, 800)}`);
      assert.match(lines[0] ?? "", new RegExp(`^  ${sub} +\\w`), "with what it does");
    }
    assert.match(r.stdout, /^Usage: kreboot /);
    assert.match(r.stdout, /^ {2}--node-id /m);
  }
});

Deno.test("kreboot config prints kured's defaults as JSON and exits 0", async () => {
  const r = await kreboot(["config"]);
  assert.equal(r.code, 0, r.stderr);
  const cfg = JSON.parse(r.stdout);
  assert.equal(cfg.period, "1h0m0s");
  assert.equal(cfg["ds-name"], "kured");
  assert.equal(cfg["reboot-command"], "/bin/systemctl reboot");
  assert.equal(cfg["lock-annotation"], "weave.works/kured-node-lock");
});

Deno.test("flags beat KREBOOT_ beats KURED_ in the real process", async () => {
  const r = await kreboot(["config", "--period=5m"], {
    KREBOOT_PERIOD: "10m",
    KURED_PERIOD: "20m",
    KURED_DS_NAME: "x",
  });
  const cfg = JSON.parse(r.stdout);
  assert.equal(cfg.period, "5m0s");
  assert.equal(cfg["ds-name"], "x");
});

const BAD: [string[], Record<string, string>, RegExp][] = [
  [["config", "--period=1d"], {}, /--period/],
  [["config", "--reboot-days=funday"], {}, /--reboot-days/],
  [["config", "--start-time=25:00"], {}, /--start-time/],
  [["config", "--time-zone=Mars/Olympus"], {}, /--time-zone/],
  [["config", "--concurrency=0"], {}, /--concurrency/],
  [["config", "--no-such-flag"], {}, /no-such-flag/],
  [["config"], { KURED_LOCK_TTL: "forever" }, /KURED_LOCK_TTL/],
  [
    ["config", "--notify-url=slack://a/b/c", "--slack-hook-url=https://hooks.slack.com/services/A/B/C"],
    {},
    /notify-url|slack-hook-url/,
  ],
  [["--node-id="], {}, /--node-id/],
  [["status", "-o", "yaml"], {}, /--output/],
  [["plan", "-o", "yaml"], {}, /--output/],
];

for (const [args, env, flag] of BAD) {
  Deno.test(`exit 2 with one line naming the flag: ${[...args, ...Object.entries(env).map((e) => e.join("="))].join(" ")}`, async () => {
    const r = await kreboot(args, env);
    assert.equal(r.code, 2, `stdout=${r.stdout} stderr=${r.stderr}`);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] ?? "", flag);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    assert.equal(r.stdout, "");
  });
}

Deno.test("a first run with no kube context exits 2 at once, naming every place a kubeconfig can come from", async () => {
  const home = await Deno.makeTempDir({ prefix: "kreboot-home-" });
  // Deno's own cache lives under $HOME by default: keep using the real one.
  const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
    .output();
  const { denoDir } = JSON.parse(new TextDecoder().decode(info.stdout)) as { denoDir: string };
  // A free port: the metrics server starts before the kubeconfig is looked for.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  try {
    const r = await kreboot(
      ["--dry-run", "--once", "--node-id", "n1", `--metrics-port=${port}`, "--metrics-host=127.0.0.1"],
      { HOME: home, DENO_DIR: denoDir },
      20_000,
    );
    assert.equal(r.code, 2, `stdout=${r.stdout} stderr=${r.stderr}`);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    const line = lines[0] ?? "";
    assert.match(line, /no kubeconfig found/);
    for (const where of ["--kubeconfig", "$KUBECONFIG", "~/.kube/config", "KUBERNETES_SERVICE_HOST"]) {
      assert.ok(line.includes(where), `names ${where}: ${line}`);
    }
    assert.match(line, /KUBERNETES_SERVICE_PORT/);
    assert.match(line, /ServiceAccount/);
    assert.doesNotMatch(r.stderr, /skipTLSVerify/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
