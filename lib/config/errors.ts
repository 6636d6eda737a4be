/**
 * The two error types of configuration parsing.
 *
 * Parsers of single values throw `InvalidValue`, which knows what was expected but not which flag or
 * environment variable the value came from; `parseConfig` catches it and rethrows a `ConfigError` whose
 * message is one line naming the flag, the source and the value. The caller prints that line and exits 2.
 */

/** A value that a parser rejected. `expected` completes "expected …"; `detail` says what exactly is wrong. */
export class InvalidValue extends Error {
  readonly expected: string;
  readonly detail: string | undefined;
  /** The offending part, when only one element of a list (or one token of a command) is wrong. */
  readonly value: string | undefined;

  constructor(expected: string, detail?: string, value?: string) {
    super(`expected ${expected}${detail ? ` (${detail})` : ""}`);
    this.name = "InvalidValue";
    this.expected = expected;
    this.detail = detail;
    this.value = value;
  }
}

/** A configuration that kreboot refuses to run with. The message is one line, meant for the user. */
export class ConfigError extends Error {
  /** The flag's name without dashes (e.g. `period`), or undefined for a stray argument. */
  readonly flag: string | undefined;

  constructor(flag: string | undefined, message: string) {
    // One line, and a bounded one: a parser's detail may quote a hostile value of any size.
    const line = message.replace(/[\r\n]+/g, " ");
    super(line.length > 1_000 ? `${line.slice(0, 1_000)}… (message cut)` : line);
    this.name = "ConfigError";
    this.flag = flag;
  }
}

/** Thrown by `parseConfig` when `-h` or `--help` is given: print `helpText()` and exit 0. */
export class HelpRequested extends Error {
  constructor() {
    super("help requested");
    this.name = "HelpRequested";
  }
}
