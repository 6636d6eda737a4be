/**
 * The declared transitions (lib/machine/transitions.ts) against what the handlers do: a phase change the code
 * makes that the table does not declare fails, and so does a declared one no row of the test table shows.
 */
import assert from "node:assert/strict";
import { decide, type Phase, TRANSITIONS } from "../../../lib/machine/mod.ts";
import { grid } from "./grid.ts";
import { ROWS } from "./rows.ts";
import { decideRow } from "./support.ts";

const key = (from: Phase, to: Phase) => `${from} -> ${to}`;
const DECLARED = new Set(TRANSITIONS.map((t) => key(t.from, t.to)));

Deno.test("transition table: one entry per pair, each a change of phase with a reason", () => {
  assert.equal(DECLARED.size, TRANSITIONS.length, "a pair is declared twice");
  for (const t of TRANSITIONS) {
    assert.notEqual(t.from, t.to, `${key(t.from, t.to)}: staying is not a transition`);
    assert.ok(t.when.length > 0, key(t.from, t.to));
  }
});

Deno.test("transition table: every phase change of a row is declared, and every declared one has a row", () => {
  const shown = new Set<string>();
  for (const row of ROWS) {
    const to = decideRow(row).state.phase;
    if (to === row.state.phase) continue;
    const k = key(row.state.phase, to);
    assert.ok(
      DECLARED.has(k),
      `row "${row.name}" makes ${k}, which lib/machine/transitions.ts does not declare`,
    );
    shown.add(k);
  }
  assert.deepEqual([...DECLARED].filter((k) => !shown.has(k)), [], "declared transitions without a row");
});

Deno.test("transition table: no input of the sweep makes an undeclared phase change", () => {
  const undeclared = new Map<string, string>();
  let cases = 0;
  for (const c of grid()) {
    cases++;
    const to = decide(c.state, c.obs, c.cfg).state.phase;
    const k = key(c.state.phase, to);
    if (to !== c.state.phase && !DECLARED.has(k) && !undeclared.has(k)) {
      undeclared.set(k, JSON.stringify(c.obs));
    }
  }
  assert.ok(cases > 100_000, `only ${cases} cases`);
  assert.deepEqual(Object.fromEntries(undeclared), {});
});
