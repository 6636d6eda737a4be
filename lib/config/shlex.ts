/**
 * Shell-style word splitting as kured does it with `github.com/google/shlex`, used for
 * `--reboot-command` and `--reboot-sentinel-command`. Nothing is expanded and no shell runs.
 *
 * Rules (google/shlex):
 * - words are separated by whitespace (space, tab, CR, LF);
 * - `'…'` quotes everything literally, with no escapes inside;
 * - `"…"` quotes too; inside, a backslash takes the next character literally (whatever it is);
 * - outside quotes, a backslash takes the next character literally;
 * - quoted and unquoted parts next to each other form one word (`a"b c"d` is `ab cd`), and `''` is an
 *   empty word;
 * - `#` at the start of a word starts a comment that runs to the end of the line;
 * - an unterminated quote or a trailing backslash is an error.
 */

import { InvalidValue } from "./errors.ts";

const EXPECTED = "a command line split with shell-style quoting";
const SPACE = /[ \t\r\n]/;

export function shlexSplit(s: string): string[] {
  const words: string[] = [];
  let word: string | undefined; // undefined: between words
  let i = 0;
  while (i < s.length) {
    const c = s.charAt(i);
    if (SPACE.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
      i++;
    } else if (c === "#" && word === undefined) {
      const eol = s.indexOf("\n", i);
      i = eol < 0 ? s.length : eol;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new InvalidValue(EXPECTED, "unterminated single quote");
      word = (word ?? "") + s.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      let text = "";
      i++;
      for (;;) {
        if (i >= s.length) throw new InvalidValue(EXPECTED, "unterminated double quote");
        const d = s.charAt(i);
        if (d === '"') break;
        if (d === "\\") {
          if (i + 1 >= s.length) throw new InvalidValue(EXPECTED, "unterminated double quote");
          text += s.charAt(i + 1);
          i += 2;
        } else {
          text += d;
          i++;
        }
      }
      word = (word ?? "") + text;
      i++;
    } else if (c === "\\") {
      if (i + 1 >= s.length) throw new InvalidValue(EXPECTED, "nothing after the final backslash");
      word = (word ?? "") + s.charAt(i + 1);
      i += 2;
    } else {
      word = (word ?? "") + c;
      i++;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** Quotes words so that `shlexSplit(shlexJoin(words))` gives them back. */
export function shlexJoin(words: readonly string[]): string {
  return words.map(shlexQuote).join(" ");
}

function shlexQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'"'"'`)}'`;
}
