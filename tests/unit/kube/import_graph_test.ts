/**
 * Keeps the daemon lean (issue 17): what main.ts loads at start-up (its static imports, followed) may use
 * `@kubernetes/client-node` only for types and for its kubeconfig parsers and authenticators. The package index
 * or its `KubeConfig` module would load the 718 generated model classes into every daemon (~20 MiB); the
 * `manifests` subcommand, which renders YAML through them, is imported only when it runs.
 */
import assert from "node:assert/strict";

interface Dep {
  specifier: string;
  code?: { specifier: string };
  isDynamic?: boolean;
}
interface Info {
  roots: string[];
  modules: { specifier: string; dependencies?: Dep[] }[];
  redirects: Record<string, string>;
}

const ALLOWED = new Set([
  "npm:/@kubernetes/client-node@1.4.0/dist/config_types.js",
  "npm:/@kubernetes/client-node@1.4.0/dist/exec_auth.js",
  "npm:/@kubernetes/client-node@1.4.0/dist/file_auth.js",
  "npm:/@kubernetes/client-node@1.4.0/dist/oidc_auth.js",
]);

async function graph(): Promise<Info> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("../../../main.ts", import.meta.url).pathname],
    stdin: "null",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout)) as Info;
}

/** Every module reached from the roots through static, run-time imports (not `import type`, not `import()`). */
function staticallyReached(info: Info): Set<string> {
  const bySpec = new Map(info.modules.map((m) => [m.specifier, m]));
  const resolve = (s: string) => info.redirects[s] ?? s;
  const seen = new Set<string>();
  const todo = info.roots.map(resolve);
  while (todo.length) {
    const s = todo.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const d of bySpec.get(s)?.dependencies ?? []) {
      if (d.code && !d.isDynamic) todo.push(resolve(d.code.specifier));
    }
  }
  return seen;
}

Deno.test("the daemon loads no client-node module at start-up but its kubeconfig parsers and authenticators", async () => {
  const info = await graph();
  const reached = staticallyReached(info);
  const clientNode = [...reached].filter((s) => s.includes("@kubernetes/client-node")).sort();
  assert.deepEqual(clientNode, [...ALLOWED].sort());
  // The manifests module is in the graph, but only behind a dynamic import.
  const manifests = [...reached].find((s) => s.endsWith("/lib/cli/manifests.ts"));
  assert.equal(manifests, undefined, "lib/cli/manifests.ts must be imported with import(), not statically");
  assert.ok(info.modules.some((m) => m.specifier.endsWith("/lib/cli/manifests.ts")));
});
