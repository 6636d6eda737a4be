/**
 * Memory baselines for the memory benchmark: `deno run -A bench/baseline.ts <what>` loads only part of the
 * daemon, waits for V8 to settle, and prints one JSON line with `Deno.memoryUsage()` and /proc/self/status, so
 * the daemon's resident set can be split into the Deno runtime itself, the Kubernetes client library, and the
 * rest. `what`: `empty` (nothing imported), `credentials` (kreboot's credentials, lib/kube/credentials.ts, with
 * a kubeconfig loaded and applied), `client-node` (all of @kubernetes/client-node with the API clients the
 * daemon made before issue 17).
 */
const what = Deno.args[0] ?? "empty";
if (what === "credentials") {
  const { Credentials } = await import("../lib/kube/credentials.ts");
  const c = new Credentials();
  c.clusters = [{ name: "c", server: "https://127.0.0.1:1", skipTLSVerify: false }];
  c.users = [{ name: "u", token: "t" }];
  c.contexts = [{ name: "x", cluster: "c", user: "u" }];
  c.currentContext = "x";
  await c.applyToHTTPSOptions({});
} else if (what === "client-node") {
  const k8s = await import("@kubernetes/client-node");
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: "https://127.0.0.1:1" }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  kc.makeApiClient(k8s.CoreV1Api);
  kc.makeApiClient(k8s.CoordinationV1Api);
  kc.makeApiClient(k8s.AppsV1Api);
  kc.makeApiClient(k8s.PolicyV1Api);
  kc.makeApiClient(k8s.EventsV1Api);
  new k8s.Watch(kc);
} else if (what !== "empty") {
  console.error(`baseline: unknown ${what}; use empty, credentials or client-node`);
  Deno.exit(2);
}
await new Promise((r) => setTimeout(r, Number(Deno.env.get("BASELINE_SETTLE_MS") ?? 5_000)));
const status = Deno.readTextFileSync("/proc/self/status");
const kb = (key: string) => Number(status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"))?.[1] ?? 0) * 1024;
console.log(JSON.stringify({
  what,
  memoryUsage: Deno.memoryUsage(),
  rss: kb("VmRSS"),
  rssAnon: kb("RssAnon"),
  rssFile: kb("RssFile"),
}));
