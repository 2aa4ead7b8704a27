#!/usr/bin/env bats
# Release rehearsal: does what the release workflow does, for this machine, and runs the
# real hook and the real action install step against the result.
#
# setup_file runs the workflow's own steps (scripts/release check-version, build, pin):
# a release build of the binary, an asset, checksums.txt and VERSION. It serves the
# asset from a loopback HTTP server laid out like a release download URL
# (<base>/v<version>/package-publisher-<triple>), and points PP_RELEASES_URL at it.
# The tests then run hooks/post-command and action.yml's steps from a copy of the
# plugin holding that checksums.txt and VERSION, with real curl: download, verify,
# cache, re-verify, exec; and a tampered asset, a missing asset and a wrong pin are
# refused.
#
# The asset is built for the host (x86_64-unknown-linux-gnu here), while the hook asks
# for its own name for this platform (x86_64-unknown-linux-musl on Linux): musl targets
# cannot be installed on the CI machine, so the host build is published under the name
# the hook asks for, exactly as a release asset with that name would be.
#
# Each @test runs in its own subshell, so exports there stay local (SC2030/SC2031).
# shellcheck disable=SC2030,SC2031,SC1091

setup_file() {
  export REPO WORK="$BATS_FILE_TMPDIR"
  REPO="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
  export VERSION
  VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO/Cargo.toml" | head -n1)"
  bash "$REPO/scripts/release" check-version "$VERSION"

  # The workflow's build step (reuses target/release when it is up to date).
  local asset
  if ! asset="$(bash "$REPO/scripts/release" build --out "$WORK/dist" 2>"$WORK/build.log")"; then
    cat "$WORK/build.log"
    return 1
  fi
  export TRIPLE
  TRIPLE="$(source "$REPO/lib/binary.bash" && pp_target_triple)"
  # What the workflow uploads and `gh release download` gives back to its pin step.
  mkdir -p "$WORK/www/releases/v$VERSION" "$WORK/www/tampered/v$VERSION" "$WORK/www/empty"
  cp "$asset" "$WORK/www/releases/v$VERSION/package-publisher-$TRIPLE"
  export ASSET="$WORK/www/releases/v$VERSION/package-publisher-$TRIPLE"

  # The release commit: the plugin/action files with the pinned checksums.txt and VERSION.
  export PLUGIN="$WORK/plugin"
  mkdir -p "$PLUGIN"
  cp -R "$REPO/hooks" "$REPO/lib" "$REPO/action.yml" "$REPO/plugin.yml" "$PLUGIN/"
  bash "$REPO/scripts/release" pin "$VERSION" "$WORK/www/releases/v$VERSION" "$PLUGIN" 2>/dev/null

  # A mirror that serves other bytes under the right name.
  { cat "$ASSET"; echo "tampered"; } >"$WORK/www/tampered/v$VERSION/package-publisher-$TRIPLE"

  # The loopback server; it writes its port to a file once it listens. Beside the
  # release files it answers the two reads a dry run makes of the Packages API (the
  # registry, and an empty listing): the rehearsal is about the install path, so a
  # stand-in that accepts the token is enough here.
  python3 -u -c '
import functools, http.server, json, os, sys
root, port_file = sys.argv[1], sys.argv[2]
class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if not self.path.startswith("/v2/"):
            return super().do_GET()
        path = self.path.split("?")[0]
        if path.endswith("/registries/debs"):
            body = {"slug": "debs", "name": "debs", "ecosystem": "debian"}
        elif path.endswith("/registries/debs/packages"):
            body = {"items": [], "links": {}}
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
handler = functools.partial(Handler, directory=root)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
' "$WORK/www" "$WORK/port" >"$WORK/server.log" 2>&1 3>&- &
  echo "$!" >"$WORK/server.pid"
  for _ in $(seq 1 100); do
    [ -s "$WORK/port" ] && break
    sleep 0.1
  done
  if [ ! -s "$WORK/port" ]; then
    echo "the loopback HTTP server did not start:"
    cat "$WORK/server.log"
    return 1
  fi
  export BASE
  BASE="http://127.0.0.1:$(cat "$WORK/port")"
}

teardown_file() {
  if [ -s "$WORK/server.pid" ]; then
    kill "$(cat "$WORK/server.pid")" 2>/dev/null || true
  fi
}

setup() {
  mkdir -p "$BATS_TEST_TMPDIR/shims" "$BATS_TEST_TMPDIR/job/dist"
  # A buildkite-agent that records its calls (the token goes to `redactor add`).
  printf '#!/bin/bash\necho "$*" >>"%s/agent.log"\ncat >/dev/null\n' "$BATS_TEST_TMPDIR" >"$BATS_TEST_TMPDIR/shims/buildkite-agent"
  chmod +x "$BATS_TEST_TMPDIR/shims/buildkite-agent"
  # A real package: the binary reads its identity before anything else.
  mkdir -p "$BATS_TEST_TMPDIR/pkgroot/DEBIAN"
  printf 'Package: hello\nVersion: 1.0.0\nArchitecture: amd64\nMaintainer: rehearsal <r@example.invalid>\nDescription: rehearsal\n' >"$BATS_TEST_TMPDIR/pkgroot/DEBIAN/control"
  dpkg-deb --root-owner-group --build "$BATS_TEST_TMPDIR/pkgroot" "$BATS_TEST_TMPDIR/job/dist/hello_1.0.0_amd64.deb" >/dev/null
  cd "$BATS_TEST_TMPDIR/job" || return 1
  export PATH="$BATS_TEST_TMPDIR/shims:$PATH"
  # The loopback mirror speaks plain http: allowed explicitly, as a user of an
  # internal mirror would; the pinned sha256 still decides.
  export PP_RELEASES_URL="$BASE/releases" PP_ALLOW_HTTP_MIRROR=true
  export PP_CACHE_DIR="$BATS_TEST_TMPDIR/cache"
  export CACHED="$PP_CACHE_DIR/$VERSION/$TRIPLE/package-publisher"
  # A dry run: the binary plans the file, reads the stand-in registry and writes its
  # report; a dry run sends nothing that could change a registry.
  export BUILDKITE=true BUILDKITE_PLUGIN_NAME=PACKAGE_PUBLISHER BUILDKITE_COMMAND_EXIT_STATUS=0
  export BUILDKITE_API_TOKEN=bkua_rehearsal_token
  export BUILDKITE_PLUGIN_CONFIGURATION='{"registry":"acme/debs","artifacts":"dist/*.deb","dry-run":true,"annotate":false,"report-file":"report.json","api-url":"'"$BASE"'"}'
  unset BUILDKITE_PLUGIN_PACKAGE_PUBLISHER_BINARY_PATH BUILDKITE_JOB_CANCELLED
}

# How many times the server answered GET for a path with a status, so far.
served() {
  grep -c "\"GET $1 HTTP/1.1\" $2" "$WORK/server.log" || true
}

# The `run:` script of the action step with this id.
step() {
  local python=python3
  # The test tools' venv has PyYAML; a system python3 may not.
  [ -x "$REPO/.ci-cache/venv/bin/python3" ] && python="$REPO/.ci-cache/venv/bin/python3"
  "$python" -c 'import sys, yaml; a = yaml.safe_load(open(sys.argv[1])); print(next(s["run"] for s in a["runs"]["steps"] if s.get("id") == sys.argv[2]))' "$PLUGIN/action.yml" "$1"
}

# The value of a step output written as NAME<<DELIMITER ... DELIMITER.
output_value() {
  awk -v name="$1" 'index($0, name "<<") == 1 { delim = substr($0, length(name) + 3); next }
    delim != "" && $0 == delim { exit }
    delim != "" { print }' "$GITHUB_OUTPUT"
}

sha() {
  sha256sum "$1" | cut -d' ' -f1
}

@test "the release steps write the asset, checksums.txt and VERSION as the workflow does" {
  [ "$(cat "$PLUGIN/VERSION")" = "$VERSION" ]
  grep -v '^#' "$PLUGIN/checksums.txt" >"$BATS_TEST_TMPDIR/pins"
  [ "$(wc -l <"$BATS_TEST_TMPDIR/pins")" -eq 1 ]
  [[ "$(cat "$BATS_TEST_TMPDIR/pins")" =~ ^[0-9a-f]{64}\ \ package-publisher-${TRIPLE}$ ]]
  [ "$(cut -d' ' -f1 "$BATS_TEST_TMPDIR/pins")" = "$(sha "$ASSET")" ]
  # The release binary says the version it is released as.
  run "$ASSET" --version
  [ "$status" -eq 0 ]
  [ "$output" = "package-publisher $VERSION" ]
}

@test "the hook downloads the asset from the release URL, verifies it, caches it and execs it" {
  before="$(served "/releases/v$VERSION/package-publisher-$TRIPLE" 200)"
  run "$PLUGIN/hooks/post-command"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"downloading package-publisher v$VERSION for $TRIPLE from $BASE/releases/v$VERSION/package-publisher-$TRIPLE"* ]]
  [[ "$output" == *"matches checksums.txt"* ]]
  [ "$(served "/releases/v$VERSION/package-publisher-$TRIPLE" 200)" -eq $((before + 1)) ]
  # The cache holds the verified asset, executable, in a folder only this user can write.
  [ -x "$CACHED" ]
  [ "$(sha "$CACHED")" = "$(sha "$ASSET")" ]
  [ "$(stat -c %a "$(dirname "$CACHED")")" = 700 ]
  # The real binary ran: it planned the file and wrote its report.
  grep -q '"dry_run": *true' report.json
  grep -q '"path": *"dist/hello_1.0.0_amd64.deb"' report.json
  grep -q '"status": *"planned"' report.json
}

@test "a second run re-verifies the cached binary and does not download it again" {
  run "$PLUGIN/hooks/post-command"
  [ "$status" -eq 0 ]
  before="$(served "/releases/v$VERSION/package-publisher-$TRIPLE" 200)"
  rm -f report.json
  run "$PLUGIN/hooks/post-command"
  [ "$status" -eq 0 ]
  [[ "$output" != *"downloading"* ]]
  [ "$(served "/releases/v$VERSION/package-publisher-$TRIPLE" 200)" -eq "$before" ]
  [ -s report.json ]
}

@test "a tampered cached binary is refused, downloaded again and verified" {
  run "$PLUGIN/hooks/post-command"
  [ "$status" -eq 0 ]
  printf '#!/bin/bash\necho "TAMPERED binary ran"\n' >"$CACHED"
  before="$(served "/releases/v$VERSION/package-publisher-$TRIPLE" 200)"
  rm -f report.json
  run "$PLUGIN/hooks/post-command"
  [ "$status" -eq 0 ]
  [[ "$output" == *"does not match the pinned sha256; refusing it and downloading again"* ]]
  [[ "$output" != *"TAMPERED binary ran"* ]]
  [ "$(served "/releases/v$VERSION/package-publisher-$TRIPLE" 200)" -eq $((before + 1)) ]
  [ "$(sha "$CACHED")" = "$(sha "$ASSET")" ]
  [ -s report.json ]
}

@test "a tampered asset is refused before it runs, and nothing is cached" {
  export PP_RELEASES_URL="$BASE/tampered"
  run "$PLUGIN/hooks/post-command"
  [ "$status" -eq 1 ]
  [[ "$output" == *"checksum mismatch for $BASE/tampered/v$VERSION/package-publisher-$TRIPLE: expected sha256 $(sha "$ASSET") (pinned in checksums.txt), got "*"; refusing to run it"* ]]
  [ ! -e "$CACHED" ]
  [ -z "$(ls "$(dirname "$CACHED")")" ]
  [ ! -e report.json ]
}

@test "a missing asset is reported with what to check" {
  export PP_RELEASES_URL="$BASE/empty"
  run "$PLUGIN/hooks/post-command"
  [ "$status" -eq 1 ]
  [ "$(served "/empty/v$VERSION/package-publisher-$TRIPLE" 404)" -ge 1 ]
  [[ "$output" == *"404"* ]]
  [[ "$output" == *"could not download $BASE/empty/v$VERSION/package-publisher-$TRIPLE; check that release v$VERSION has an asset for $TRIPLE"* ]]
  [ ! -e "$CACHED" ]
  [ ! -e report.json ]
}

@test "a checksums.txt that pins other bytes refuses the genuine asset" {
  cp -R "$PLUGIN" "$BATS_TEST_TMPDIR/plugin"
  printf '%s  package-publisher-%s\n' "$(printf 'other build' | sha256sum | cut -d' ' -f1)" "$TRIPLE" >"$BATS_TEST_TMPDIR/plugin/checksums.txt"
  run "$BATS_TEST_TMPDIR/plugin/hooks/post-command"
  [ "$status" -eq 1 ]
  [[ "$output" == *"checksum mismatch"*"got $(sha "$ASSET"); refusing to run it"* ]]
  [ ! -e "$CACHED" ]
  [ ! -e report.json ]
}

@test "a checksums.txt without this platform's triple refuses to download" {
  cp -R "$PLUGIN" "$BATS_TEST_TMPDIR/plugin"
  grep -v "package-publisher-$TRIPLE\$" "$PLUGIN/checksums.txt" >"$BATS_TEST_TMPDIR/plugin/checksums.txt"
  before="$(served "/releases/v$VERSION/package-publisher-$TRIPLE" 200)"
  run "$BATS_TEST_TMPDIR/plugin/hooks/post-command"
  [ "$status" -eq 2 ]
  [[ "$output" == *"checksums.txt has no sha256 for $TRIPLE"* ]]
  [ "$(served "/releases/v$VERSION/package-publisher-$TRIPLE" 200)" -eq "$before" ]
}

@test "the action's install step downloads and caches the asset, and its run step execs it" {
  unset PP_CACHE_DIR BUILDKITE BUILDKITE_PLUGIN_NAME BUILDKITE_PLUGIN_CONFIGURATION BUILDKITE_API_TOKEN BUILDKITE_COMMAND_EXIT_STATUS
  export GITHUB_ACTIONS=true GITHUB_ACTION_PATH="$PLUGIN" RUNNER_TOOL_CACHE="$BATS_TEST_TMPDIR/toolcache"
  export GITHUB_OUTPUT="$BATS_TEST_TMPDIR/github_output" GITHUB_STEP_SUMMARY="$BATS_TEST_TMPDIR/summary.md"
  : >"$GITHUB_OUTPUT"
  export INPUT_BINARY_PATH=""
  run bash -eo pipefail -c "$(step install)"
  echo "$output"
  [ "$status" -eq 0 ]
  binary="$RUNNER_TOOL_CACHE/package-publisher/$VERSION/$TRIPLE/package-publisher"
  grep -qx "path=$binary" "$GITHUB_OUTPUT"
  [ "$(sha "$binary")" = "$(sha "$ASSET")" ]

  # The run step, with the inputs the action maps (an empty input is unset).
  : >"$GITHUB_OUTPUT"
  export PP_BINARY="$binary" PP_API_TOKEN_INPUT=bkua_rehearsal_token
  export INPUT_REGISTRY=acme/debs INPUT_ARTIFACTS="dist/*.deb" INPUT_DRY_RUN=true INPUT_ANNOTATE=true
  export INPUT_REPORT_FILE=report.json INPUT_API_URL="$BASE" INPUT_CONCURRENCY=""
  run bash -eo pipefail -c "$(step run)"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(output_value report-file)" = report.json ]
  [ "$(output_value failed-count)" = 0 ]
  [[ "$(output_value packages)" == *'"status":"planned"'* ]]
  grep -q "acme/debs" "$GITHUB_STEP_SUMMARY"
  grep -q '"status": *"planned"' report.json
}

@test "the action's install step refuses a tampered asset" {
  export GITHUB_ACTIONS=true GITHUB_ACTION_PATH="$PLUGIN" RUNNER_TOOL_CACHE="$BATS_TEST_TMPDIR/toolcache" INPUT_BINARY_PATH=""
  export GITHUB_OUTPUT="$BATS_TEST_TMPDIR/github_output" PP_RELEASES_URL="$BASE/tampered"
  unset PP_CACHE_DIR
  : >"$GITHUB_OUTPUT"
  run bash -eo pipefail -c "$(step install)"
  [ "$status" -ne 0 ]
  [[ "$output" == *"checksum mismatch"*"refusing to run it"* ]]
  [ ! -s "$GITHUB_OUTPUT" ]
}
