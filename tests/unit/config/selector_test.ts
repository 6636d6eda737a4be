import assert from "node:assert/strict";
import {
  checkLabelSelector,
  InvalidValue,
  labelKeyProblem,
  labelValueProblem,
} from "../../../lib/config/mod.ts";

Deno.test("checkLabelSelector accepts apimachinery's grammar", () => {
  for (
    const s of [
      "",
      "app=web",
      "app==web",
      "app!=web",
      "app",
      "!app",
      "team in (a,b)",
      "team notin (a, b ,c)",
      "team in (a)",
      "app=web,tier!=db,!legacy,team in (x,y)",
      "  app = web ,  tier  ",
      "example.com/owner=me",
      "app.kubernetes.io/name=kured",
      "k=",
      "k in (a,)",
      "gen>3",
      "gen<-1",
      "a_b.c-d=e_f.g-h",
    ]
  ) {
    assert.doesNotThrow(() => checkLabelSelector(s), s);
  }
});

Deno.test("checkLabelSelector rejects malformed selectors with a reason", () => {
  const bad: [string, RegExp][] = [
    ["team in (a,b", /expected , or \) in the value list/],
    ["team in a,b", /parenthesised list/],
    ["team in ()", /at least one value/],
    ["app=web,", /trailing comma/],
    [",app", /expected a label key/],
    ["app=web=x", /expected , between requirements/],
    ["app web", /expected an operator/],
    ["-app=web", /must be alphanumeric/],
    ["app=-web", /label value .* must be alphanumeric/],
    ["Example.com/x=y", /not a DNS subdomain/],
    ["/x=y", /empty prefix/],
    [`${"a".repeat(64)}=b`, /longer than 63/],
    [`a=${"b".repeat(64)}`, /longer than 63/],
    ["gen>x", /needs an integer/],
    ["!", /expected a label key/],
    ["a in (b c)", /expected , or \)/],
  ];
  for (const [s, why] of bad) {
    assert.throws(() => checkLabelSelector(s), (e: unknown) => {
      assert.ok(e instanceof InvalidValue, s);
      assert.match(e.message, /expected a label selector/);
      assert.match(e.message, why, s);
      return true;
    });
  }
});

Deno.test("label keys and values follow Kubernetes validation", () => {
  assert.equal(labelKeyProblem("kured.dev/rebooting"), undefined);
  assert.equal(labelKeyProblem("rebooting"), undefined);
  assert.match(labelKeyProblem("a/b/c") ?? "", /must be alphanumeric/);
  assert.match(labelKeyProblem("") ?? "", /empty name/);
  assert.equal(labelValueProblem(""), undefined);
  assert.equal(labelValueProblem("true"), undefined);
  assert.match(labelValueProblem("has space") ?? "", /must be alphanumeric/);
});
