/**
 * Label selector and label key/value validation, following kubernetes/apimachinery
 * (`pkg/labels/selector.go`, `pkg/util/validation`). kreboot only passes selectors to the API server, but
 * checking them at start-up turns a typo into an exit code instead of a drain that fails every period.
 *
 * Grammar: requirements separated by `,` (AND), each one of
 *   `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (v1,v2)`, `key notin (v1,v2)`,
 *   `key>N`, `key<N` (N an integer).
 * The empty selector is valid and matches everything.
 */

import { InvalidValue } from "./errors.ts";
import { isDnsSubdomain } from "./names.ts";

const SELECTOR_EXPECTED = "a label selector such as app=web, tier!=db, team in (a,b) or !legacy";

const NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;

/** Returns what is wrong with a label key (`[prefix/]name`), or undefined when it is valid. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf("/");
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined) {
    if (prefix === "") return `label key ${JSON.stringify(key)} has an empty prefix`;
    if (!isDnsSubdomain(prefix)) {
      return `label key prefix ${JSON.stringify(prefix)} is not a DNS subdomain`;
    }
  }
  if (name === "") return `label key ${JSON.stringify(key)} has an empty name`;
  if (name.length > 63) return `label key name ${JSON.stringify(name)} is longer than 63 characters`;
  if (!NAME.test(name)) {
    return `label key ${
      JSON.stringify(key)
    } must be alphanumeric, '-', '_' or '.', starting and ending alphanumeric`;
  }
  return undefined;
}

/** Returns what is wrong with a label value (may be empty), or undefined when it is valid. */
export function labelValueProblem(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > 63) return `label value ${JSON.stringify(value)} is longer than 63 characters`;
  if (!NAME.test(value)) {
    return `label value ${
      JSON.stringify(value)
    } must be alphanumeric, '-', '_' or '.', starting and ending alphanumeric`;
  }
  return undefined;
}

type Token =
  | { t: "id"; v: string }
  | { t: "!" | "=" | "==" | "!=" | "(" | ")" | "," | ">" | "<" | "in" | "notin" | "end" };

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s.charAt(i);
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const two = s.slice(i, i + 2);
    if (two === "==" || two === "!=") {
      out.push({ t: two });
      i += 2;
    } else if ("!=(),<>".includes(c)) {
      out.push({ t: c as "!" | "=" | "(" | ")" | "," | "<" | ">" });
      i++;
    } else {
      let j = i;
      while (j < s.length && !/[\s!=(),<>]/.test(s.charAt(j))) j++;
      const word = s.slice(i, j);
      out.push(word === "in" || word === "notin" ? { t: word } : { t: "id", v: word });
      i = j;
    }
  }
  out.push({ t: "end" });
  return out;
}

/** Throws `InvalidValue` unless `s` is a valid label selector. */
export function checkLabelSelector(s: string): void {
  const toks = tokenize(s);
  let p = 0;
  const peek = (): Token => toks[p] ?? { t: "end" };
  const next = (): Token => toks[p++] ?? { t: "end" };
  const fail = (detail: string): never => {
    throw new InvalidValue(SELECTOR_EXPECTED, detail);
  };
  const show = (
    tok: Token,
  ): string => (tok.t === "id" ? JSON.stringify(tok.v) : tok.t === "end" ? "end" : tok.t);
  const key = (): string => {
    const tok = next();
    if (tok.t !== "id") return fail(`expected a label key, found ${show(tok)}`);
    const problem = labelKeyProblem(tok.v);
    if (problem) fail(problem);
    return tok.v;
  };
  const value = (): void => {
    const tok = peek();
    if (tok.t === "id") {
      p++;
      const problem = labelValueProblem(tok.v);
      if (problem) fail(problem);
    }
    // An absent value is the empty value (`k=` selects k=""), as apimachinery allows.
  };

  if (peek().t === "end") return;
  for (;;) {
    if (peek().t === "!") {
      p++;
      key();
    } else {
      key();
      const op = peek();
      switch (op.t) {
        case "=":
        case "==":
        case "!=":
          p++;
          value();
          break;
        case "<":
        case ">": {
          p++;
          const n = next();
          if (n.t !== "id" || !/^[+-]?\d+$/.test(n.v)) fail(`${op.t} needs an integer, found ${show(n)}`);
          break;
        }
        case "in":
        case "notin": {
          p++;
          if (next().t !== "(") fail(`${op.t} needs a parenthesised list like (a,b)`);
          if (peek().t === ")") fail(`${op.t} needs at least one value`);
          for (;;) {
            value();
            const sep = next();
            if (sep.t === ")") break;
            if (sep.t !== ",") fail(`expected , or ) in the value list, found ${show(sep)}`);
          }
          break;
        }
        case ",":
        case "end":
          break; // existence requirement
        default:
          fail(`expected an operator (=, ==, !=, in, notin, <, >) after the key, found ${show(op)}`);
      }
    }
    const sep = next();
    if (sep.t === "end") return;
    if (sep.t !== ",") fail(`expected , between requirements, found ${show(sep)}`);
    if (peek().t === "end") fail("trailing comma");
  }
}
