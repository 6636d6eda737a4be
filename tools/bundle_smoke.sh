#!/usr/bin/env bash
# Bundle smoke test: a stand-in for `deno compile` that runs without the Deno download site. Builds the
# single-file bundle of main.ts (`deno task bundle`, which fetches esbuild from npm) and runs it from an EMPTY
# temporary directory, with no deno.json, deno.lock or node_modules beside it and --no-config: a dynamic import,
# a file read relative to the source or an npm package left out of the bundle fails here, as it would in the
# compiled binary. Checks the outputs against the same commands run from the source tree.
# Exits non-zero on the first difference; the last line says what passed.
set -euo pipefail
cd "$(dirname "$0")/.."

# A clean environment for every run, so KREBOOT_*/KURED_* variables of the caller change nothing.
clean_env=(env -i "PATH=$PATH" "HOME=${HOME:-/tmp}" ${DENO_DIR:+"DENO_DIR=$DENO_DIR"} "NO_COLOR=1")

deno task bundle >/dev/null 2>&1 || { deno task bundle; echo "bundle-smoke: deno task bundle failed"; exit 1; }
[[ -s dist/kreboot.js ]] || { echo "bundle-smoke: dist/kreboot.js was not written"; exit 1; }
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git check-ignore -q dist/kreboot.js || { echo "bundle-smoke: dist/ must stay git-ignored"; exit 1; }
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp dist/kreboot.js "$tmp/kreboot.js"
src=$PWD

bundle() { (cd "$tmp" && "${clean_env[@]}" deno run -A --no-config kreboot.js "$@"); }
source_run() { "${clean_env[@]}" deno run -A main.ts "$@"; }
fail() { echo "bundle-smoke: $*"; exit 1; }

version=$(bundle --version) || fail "--version exited $?"
want="kreboot $(deno eval 'console.log(JSON.parse(Deno.readTextFileSync("deno.json")).version)')"
[[ "$version" == "$want" ]] || fail "--version printed '$version', expected '$want'"

bundle manifests >"$tmp/manifests.yaml" || fail "manifests exited $?"
diff -u "$src/deploy/kreboot.yaml" "$tmp/manifests.yaml" >&2 ||
  fail "the bundle's \`manifests\` differs from deploy/kreboot.yaml"

flags=(--prometheus-operator --namespace=ops --ds-name=kreboot --concurrency=20% --reboot-days=sa,su --period=5m)
diff -u <(source_run manifests "${flags[@]}" 2>/dev/null) <(bundle manifests "${flags[@]}") >&2 ||
  fail "the bundle's \`manifests ${flags[*]}\` differs from the source's"

bundle config >"$tmp/config.json" || fail "config exited $?"
diff -u <(source_run config 2>/dev/null) "$tmp/config.json" >&2 || fail "the bundle's \`config\` differs from the source's"
deno eval --no-config '
  const c = JSON.parse(Deno.readTextFileSync(Deno.args[0]));
  const want = { "period": "1h0m0s", "ds-name": "kured", "concurrency": "1", "reboot-sentinel": "/var/run/reboot-required" };
  for (const [k, v] of Object.entries(want)) {
    if (String(c[k]) !== v) throw new Error(`config ${k} = ${JSON.stringify(c[k])}, expected the default ${v}`);
  }' "$tmp/config.json" || fail "the bundle's \`config\` does not show the defaults"

set +e
bundle --period=banana >/dev/null 2>"$tmp/err"
code=$?
set -e
[[ $code -eq 2 ]] || fail "a bad flag must exit 2 (got $code): $(cat "$tmp/err")"
grep -q -- "--period" "$tmp/err" || fail "the bad-flag message must name --period: $(cat "$tmp/err")"

leftovers=$(cd "$tmp" && ls -A | grep -vxE 'kreboot.js|manifests.yaml|config.json|err' || true)
[[ -z "$leftovers" ]] || fail "the bundle wrote files beside itself: $leftovers"

echo "bundle-smoke: ok ($(du -h dist/kreboot.js | cut -f1) bundle; --version, manifests, config and a bad flag from an empty directory)"
