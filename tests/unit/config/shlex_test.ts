import assert from "node:assert/strict";
import { InvalidValue, shlexJoin, shlexSplit } from "../../../lib/config/mod.ts";

Deno.test("shlexSplit splits like google/shlex", () => {
  const cases: [string, string[]][] = [
    ["/bin/systemctl reboot", ["/bin/systemctl", "reboot"]],
    ["  spaced\tout \n words  ", ["spaced", "out", "words"]],
    [`sh -c "! needs-restarting --reboothint"`, ["sh", "-c", "! needs-restarting --reboothint"]],
    [`sh -c 'test -f /var/run/reboot-required'`, ["sh", "-c", "test -f /var/run/reboot-required"]],
    [`a"b c"d`, ["ab cd"]],
    [`'it'"'"'s'`, ["it's"]],
    [`"say \\"hi\\""`, [`say "hi"`]],
    [`"back\\\\slash"`, ["back\\slash"]],
    [`"\\n stays n"`, ["n stays n"]], // google/shlex drops the backslash before any character in "…"
    [`'no \\ escapes'`, ["no \\ escapes"]],
    [`one\\ word`, ["one word"]],
    [`x '' y`, ["x", "", "y"]],
    [`echo hi # a comment`, ["echo", "hi"]],
    [`echo a#b`, ["echo", "a#b"]],
    [`# only a comment`, []],
    ["", []],
  ];
  for (const [input, want] of cases) assert.deepEqual(shlexSplit(input), want, input);
});

Deno.test("shlexSplit rejects unterminated quotes and a trailing backslash", () => {
  for (
    const [input, why] of [
      [`sh -c 'oops`, /unterminated single quote/],
      [`sh -c "oops`, /unterminated double quote/],
      [`"ends in escape\\`, /unterminated double quote/],
      [`trailing\\`, /final backslash/],
    ] as const
  ) {
    assert.throws(
      () => shlexSplit(input),
      (e: unknown) => e instanceof InvalidValue && why.test(e.message),
      input,
    );
  }
});

Deno.test("shlexJoin quotes so that shlexSplit gives the words back", () => {
  const argvs: string[][] = [
    ["/bin/systemctl", "reboot"],
    ["sh", "-c", "! needs-restarting --reboothint"],
    ["it's", 'a "quoted" word', "", "#hash", "back\\slash", "tab\there", "$HOME"],
  ];
  for (const argv of argvs) assert.deepEqual(shlexSplit(shlexJoin(argv)), argv);
  assert.equal(shlexJoin(["/bin/systemctl", "reboot"]), "/bin/systemctl reboot");
});
