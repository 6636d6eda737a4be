#!/usr/bin/env bash
# Bundle smoke test: the bundle is what ships (the Containerfile compiles it with `deno compile --no-code-cache`),
# and this runs it without the Deno download site that `deno compile` needs. Builds the single-file bundle of
# main.ts (`deno task bundle`, which fetches esbuild from npm) and runs it from an EMPTY temporary directory, with
# no deno.json, deno.lock or node_modules beside it and --no-config: a dynamic import, a file read relative to the
# source or an npm package left out of the bundle fails here, as it would in the compiled binary. Checks the
# outputs against the same commands run from the source tree, and runs the daemon and `status` far enough to use
# the Kubernetes transport (against an apiserver that is not there).
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

bundle() { (cd "$tmp" && "${clean_env[@]}" deno run -A --no-code-cache --no-config kreboot.js "$@"); }
source_run() { "${clean_env[@]}" deno run -A main.ts "$@"; }
fail() { echo "bundle-smoke: $*"; exit 1; }

version=$(bundle --version) || fail "--version exited $?"
want="kreboot $(deno eval 'console.log(JSON.parse(Deno.readTextFileSync("deno.json")).version)')"
[[ "$version" == "$want" ]] || fail "--version printed '$version', expected '$want'"

bundle manifests >"$tmp/manifests.yaml" 2>"$tmp/err.manifests" || fail "manifests exited $?"
diff -u "$src/deploy/kreboot.yaml" "$tmp/manifests.yaml" >&2 ||
  fail "the bundle's \`manifests\` differs from deploy/kreboot.yaml"

flags=(--prometheus-operator --namespace=ops --ds-name=kreboot --concurrency=20% --reboot-days=sa,su --period=5m)
diff -u <(source_run manifests "${flags[@]}" 2>/dev/null) <(bundle manifests "${flags[@]}" 2>/dev/null) >&2 ||
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

grep -q "no image has been published" "$tmp/err.manifests" ||
  fail "\`manifests\` with the default image must say on stderr that it is not published: $(cat "$tmp/err.manifests")"

# The Kubernetes code paths from the bundle: a kubeconfig naming a port nothing listens on.
port=$(deno eval --no-config 'const l = Deno.listen({ hostname: "127.0.0.1", port: 0 }); console.log(l.addr.port); l.close()')
server="http://127.0.0.1:$port"
printf '%s' '{"clusters":[{"name":"c","cluster":{"server":"'"$server"'","insecure-skip-tls-verify":true}}],
  "users":[{"name":"u","user":{"token":"t"}}],"contexts":[{"name":"x","context":{"cluster":"c","user":"u"}}],
  "current-context":"x"}' >"$tmp/kubeconfig.json"
set +e
bundle status --kubeconfig=kubeconfig.json >/dev/null 2>"$tmp/err"
code=$?
set -e
[[ $code -eq 1 ]] || fail "\`status\` without an apiserver must exit 1 (got $code): $(cat "$tmp/err")"
grep -q "on $server" "$tmp/err" || fail "\`status\` must name the apiserver it cannot reach: $(cat "$tmp/err")"

metrics=$(deno eval --no-config 'const l = Deno.listen({ hostname: "127.0.0.1", port: 0 }); console.log(l.addr.port); l.close()')
(cd "$tmp" && exec "${clean_env[@]}" deno run -A --no-code-cache --no-config kreboot.js --node-id=smoke \
  --kubeconfig=kubeconfig.json --metrics-port="$metrics" --log-format=json >"$tmp/daemon.log" 2>&1) &
daemon=$!
for _ in $(seq 100); do
  grep -q "cannot reach the API server" "$tmp/daemon.log" 2>/dev/null && break
  sleep 0.1
done
kill -TERM "$daemon" 2>/dev/null || true
set +e
wait "$daemon"
code=$?
set -e
grep -q '"msg":"kreboot starting"' "$tmp/daemon.log" || fail "the daemon did not start: $(head -c 2000 "$tmp/daemon.log")"
grep -q "cannot reach the API server.*on $server" "$tmp/daemon.log" ||
  fail "the daemon must say which apiserver it cannot reach: $(head -c 2000 "$tmp/daemon.log")"
[[ $code -eq 0 ]] || fail "the daemon must stop cleanly on SIGTERM (exit $code): $(tail -c 2000 "$tmp/daemon.log")"

leftovers=$(cd "$tmp" && ls -A | grep -vxE 'kreboot.js|manifests.yaml|config.json|err|err.manifests|kubeconfig.json|daemon.log' || true)
[[ -z "$leftovers" ]] || fail "the bundle wrote files beside itself: $leftovers"

echo "bundle-smoke: ok ($(du -h dist/kreboot.js | cut -f1) bundle; --version, manifests, config, a bad flag, status and the daemon from an empty directory)"
