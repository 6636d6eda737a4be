import assert from "node:assert/strict";
import { renderReadme } from "../../tools/readme.ts";

Deno.test("README's flag table is the one generated from the flag definitions (run `deno task readme`)", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  assert.equal(renderReadme(readme), readme, "README.md is stale: run `deno task readme`");
});

Deno.test("README names the quick-start and test commands that CI relies on", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  assert.match(readme, /deno task start -- --dry-run --once --node-id <node>/);
  assert.match(readme, /deno task test\b/);
  const ci = await Deno.readTextFile(new URL("../../.ci/run", import.meta.url));
  assert.match(ci, /deno task test 2>&1/);
});
