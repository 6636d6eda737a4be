/**
 * Imported first by main.ts: client-node 1.x loads node-fetch -> whatwg-url, which warns on every start that
 * the `punycode` builtin is deprecated. The warning is noise in a daemon's log, and it must be silenced
 * before that import is evaluated.
 */
const proc = (globalThis as { process?: { noDeprecation?: boolean } }).process;
if (proc) proc.noDeprecation = true;
