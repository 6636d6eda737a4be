/**
 * Regenerates the generated parts of README.md (the flag table) from the flag definitions:
 *   deno task readme          rewrite README.md
 *   deno task readme --check  exit 1 when README.md is stale (tests/unit/readme_test.ts does the same)
 */
import { flagTableMarkdown } from "../lib/config/mod.ts";

const START = "<!-- flags:start -->";
const END = "<!-- flags:end -->";

/** README text with the flag table between the markers replaced by the current one. */
export function renderReadme(readme: string): string {
  const i = readme.indexOf(START);
  const j = readme.indexOf(END);
  if (i < 0 || j < i) throw new Error(`README.md lacks the ${START} ... ${END} markers`);
  return `${readme.slice(0, i + START.length)}\n\n${flagTableMarkdown().trimEnd()}\n\n${readme.slice(j)}`;
}

if (import.meta.main) {
  const path = new URL("../README.md", import.meta.url);
  const current = await Deno.readTextFile(path);
  const next = renderReadme(current);
  if (Deno.args.includes("--check")) {
    if (next !== current) {
      console.error("README.md is stale: run `deno task readme`");
      Deno.exit(1);
    }
  } else if (next !== current) {
    await Deno.writeTextFile(path, next);
    console.log("README.md updated");
  }
}
