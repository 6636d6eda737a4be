/**
 * No import cycle in lib/: every module of lib/ is put into one graph by `deno info --json` (type-only
 * imports count too: a cycle through types still ties two modules into one), and the graph's strongly
 * connected components must all be single modules.
 */
import assert from "node:assert/strict";
import { relative } from "node:path";

const ROOT = new URL("../../", import.meta.url);
const LIB = new URL("lib/", ROOT);

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
}

async function libFiles(dir: URL): Promise<URL[]> {
  const out: URL[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) out.push(...await libFiles(new URL(`${e.name}/`, dir)));
    else if (e.name.endsWith(".ts")) out.push(new URL(e.name, dir));
  }
  return out;
}

/** lib/'s import graph: module -> the lib modules it imports. */
async function libGraph(): Promise<Map<string, Set<string>>> {
  const tmp = await Deno.makeTempDir({ prefix: "kreboot-cycles-" });
  try {
    const entry = `${tmp}/all.ts`;
    const files = await libFiles(LIB);
    await Deno.writeTextFile(entry, files.map((f) => `import ${JSON.stringify(f.href)};\n`).join(""));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", new URL("deno.json", ROOT).pathname, entry],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] };
    const graph = new Map<string, Set<string>>();
    for (const m of info.modules) {
      if (!m.specifier.startsWith(LIB.href)) continue;
      const deps = new Set<string>();
      for (const d of m.dependencies ?? []) {
        for (const s of [d.code?.specifier, d.type?.specifier]) {
          if (s?.startsWith(LIB.href)) deps.add(s);
        }
      }
      graph.set(m.specifier, deps);
    }
    assert.equal(graph.size, files.length, "deno info reached every module of lib/");
    return graph;
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** Tarjan's strongly connected components with more than one module (or a module importing itself). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)?.has(v)) found.push(component);
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

Deno.test("the cycle finder finds a cycle (so that the check below can fail)", () => {
  const g = new Map([["a", new Set(["b"])], ["b", new Set(["c"])], ["c", new Set(["a"])], [
    "d",
    new Set(["a"]),
  ]]);
  assert.deepEqual(cycles(g).map((c) => c.sort()), [["a", "b", "c"]]);
  assert.deepEqual(cycles(new Map([["a", new Set(["b"])], ["b", new Set<string>()]])), []);
});

Deno.test("lib/ has no import cycle", async () => {
  const found = cycles(await libGraph()).map((c) =>
    c.map((s) => relative(LIB.pathname, new URL(s).pathname)).sort().join(" <-> ")
  );
  assert.deepEqual(found, [], `import cycles in lib/: ${found.join("; ")}`);
});
