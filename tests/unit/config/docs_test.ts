import assert from "node:assert/strict";
import { FLAGS, flagTableMarkdown, helpText } from "../../../lib/config/mod.ts";

Deno.test("flagTableMarkdown has one row per flag with env vars, default, meaning and origin", () => {
  const lines = flagTableMarkdown().trimEnd().split("\n");
  assert.equal(lines[0], "| Flag | Environment | Default | Meaning | Origin |");
  assert.equal(lines.length, FLAGS.length + 2);
  FLAGS.forEach((flag, i) => {
    const row = lines[i + 2] ?? "";
    assert.ok(row.startsWith(`| \`--${flag.name}\` |`), row);
    for (const env of flag.env) assert.ok(row.includes(`\`${env}\``), `${flag.name}: ${env}`);
    assert.ok(row.endsWith(`| ${flag.group} |`), row);
    // a literal | inside a cell would break the table: every row has exactly 6 unescaped pipes
    assert.equal(row.replaceAll("\\|", "").split("|").length - 1, 6, row);
  });
  assert.match(flagTableMarkdown(), /\| `--period` \| `KREBOOT_PERIOD`, `KURED_PERIOD` \| `1h0m0s` \|/);
  assert.match(flagTableMarkdown(), /\| `--slack-username` .*\*\*Deprecated\*\*/);
  assert.match(flagTableMarkdown(), /\| `--nsenter` \| `KREBOOT_NSENTER` \| `true` \|.*\| kreboot \|/);
});

Deno.test("helpText lists every flag with its environment variables", () => {
  const help = helpText();
  for (const flag of FLAGS) {
    assert.ok(help.includes(`  --${flag.name}`), flag.name);
    assert.ok(help.includes(`env: ${flag.env.join(", ")}`), flag.name);
  }
  assert.match(help, /--period duration \(default 1h0m0s\)/);
  assert.match(help, /--reboot-days stringSlice \(default \[su,mo,tu,we,th,fr,sa\]\)/);
});
