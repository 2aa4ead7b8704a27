#!/usr/bin/env bats
# Each @test runs in its own subshell, so exports there are meant to stay local (SC2030/SC2031);
# the stand-in scripts are written with single quotes on purpose (SC2016).
# shellcheck disable=SC2030,SC2031,SC2016,SC1091
# Tests for hooks/post-command and lib/binary.bash: skip paths, platform mapping,
# binary-path, pinned-checksum downloads, the cache, and the development build.

setup() {
  repo="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
  plugin="$BATS_TEST_TMPDIR/plugin"
  mkdir -p "$plugin/hooks" "$plugin/lib" "$BATS_TEST_TMPDIR/shims" "$BATS_TEST_TMPDIR/cache"
  cp "$repo/hooks/post-command" "$plugin/hooks/"
  cp "$repo/lib/binary.bash" "$plugin/lib/"
  echo "dev" >"$plugin/VERSION"
  : >"$plugin/checksums.txt"
  # A stand-in binary that shows what it was started with.
  fake="$BATS_TEST_TMPDIR/fake-binary"
  printf '#!/bin/bash\necho "fake binary ran: args=[$*] marker=${MARKER:-} config=${BUILDKITE_PLUGIN_CONFIGURATION:-}"\n' >"$fake"
  chmod +x "$fake"
  # curl shim: serves $CURL_SERVES for any URL and records the URL.
  cat >"$BATS_TEST_TMPDIR/shims/curl" <<'SHIM'
#!/bin/bash
out=""
url=""
while [ $# -gt 0 ]; do
  case "$1" in
    --output) out="$2"; shift 2 ;;
    --retry|--retry-delay|--connect-timeout|--proto|--proto-redir|--max-time|--speed-limit|--speed-time) shift 2 ;;
    --) url="$2"; shift 2 ;;
    -*) shift ;;
    *) url="$1"; shift ;;
  esac
done
echo "$url" >>"$BATS_TEST_TMPDIR/curl.log"
if [ -n "${CURL_FAILS:-}" ]; then echo "curl: (22) The requested URL returned error: 404 for $url" >&2; exit 22; fi
cp "$CURL_SERVES" "$out"
SHIM
  chmod +x "$BATS_TEST_TMPDIR/shims/curl"
  export PATH="$BATS_TEST_TMPDIR/shims:/usr/bin:/bin"
  export PP_CACHE_DIR="$BATS_TEST_TMPDIR/cache"
  export PP_UNAME_S=Linux PP_UNAME_M=x86_64
  export BUILDKITE_PLUGIN_NAME=PACKAGE_PUBLISHER
  unset BUILDKITE_COMMAND_EXIT_STATUS BUILDKITE_JOB_CANCELLED BUILDKITE_PLUGIN_PACKAGE_PUBLISHER_BINARY_PATH
}

release() {
  echo "1.2.3" >"$plugin/VERSION"
  printf '%s  package-publisher-x86_64-unknown-linux-musl\n' "$(sha256sum "$fake" | cut -d' ' -f1)" >"$plugin/checksums.txt"
  export CURL_SERVES="$fake"
}

@test "skips with a ~~~ notice when the command failed" {
  export BUILDKITE_COMMAND_EXIT_STATUS=2
  export BUILDKITE_PLUGIN_PACKAGE_PUBLISHER_BINARY_PATH="$fake"
  run "$plugin/hooks/post-command"
  [ "$status" -eq 0 ]
  [[ "$output" == "~~~ :package: package-publisher skipped: the command failed (exit 2)" ]]
  [[ "$output" != *"fake binary ran"* ]]
}

@test "skips when the job was cancelled" {
  export BUILDKITE_COMMAND_EXIT_STATUS=0 BUILDKITE_JOB_CANCELLED=true
  export BUILDKITE_PLUGIN_PACKAGE_PUBLISHER_BINARY_PATH="$fake"
  run "$plugin/hooks/post-command"
  [ "$status" -eq 0 ]
  [[ "$output" == *"skipped: the job was cancelled"* ]]
  [[ "$output" != *"fake binary ran"* ]]
}

@test "binary-path is exec'd with the environment intact" {
  export BUILDKITE_COMMAND_EXIT_STATUS=0 MARKER=kept BUILDKITE_PLUGIN_CONFIGURATION='{"registry":"debs"}'
  export BUILDKITE_PLUGIN_PACKAGE_PUBLISHER_BINARY_PATH="$fake"
  run "$plugin/hooks/post-command"
  [ "$status" -eq 0 ]
  [[ "$output" == 'fake binary ran: args=[] marker=kept config={"registry":"debs"}' ]]
}

@test "binary-path uses the plugin name the agent gives, not a fixed prefix" {
  export BUILDKITE_PLUGIN_NAME=MY_FORK BUILDKITE_PLUGIN_MY_FORK_BINARY_PATH="$fake"
  run "$plugin/hooks/post-command"
  [ "$status" -eq 0 ]
  [[ "$output" == *"fake binary ran"* ]]
}

@test "a binary-path that is not executable is refused" {
  export BUILDKITE_PLUGIN_PACKAGE_PUBLISHER_BINARY_PATH="$BATS_TEST_TMPDIR/missing"
  run "$plugin/hooks/post-command"
  [ "$status" -eq 2 ]
  [[ "$output" == *"binary-path '$BATS_TEST_TMPDIR/missing' is not an executable file"* ]]
}

@test "platforms map to Rust target triples" {
  source "$plugin/lib/binary.bash"
  for pair in "Linux x86_64 x86_64-unknown-linux-musl" "Linux aarch64 aarch64-unknown-linux-musl" \
    "Darwin arm64 aarch64-apple-darwin" "Darwin x86_64 x86_64-apple-darwin" "MINGW64_NT-10.0 amd64 x86_64-pc-windows-msvc"; do
    read -r s m want <<<"$pair"
    PP_UNAME_S="$s" PP_UNAME_M="$m" run pp_target_triple
    [ "$status" -eq 0 ]
    [ "$output" = "$want" ]
  done
  PP_UNAME_S=Linux PP_UNAME_M=riscv64 run pp_target_triple
  [ "$status" -eq 2 ]
  [[ "$output" == *"no release binary for the CPU architecture 'riscv64'"* ]]
  PP_UNAME_S=SunOS PP_UNAME_M=x86_64 run pp_target_triple
  [ "$status" -eq 2 ]
}

@test "a release downloads the asset for the triple, verifies it and runs it" {
  release
  run "$plugin/hooks/post-command"
  [ "$status" -eq 0 ]
  [[ "$output" == *"fake binary ran"* ]]
  grep -q '/v1.2.3/package-publisher-x86_64-unknown-linux-musl$' "$BATS_TEST_TMPDIR/curl.log"
  [ -x "$PP_CACHE_DIR/1.2.3/x86_64-unknown-linux-musl/package-publisher" ]
}

@test "PP_RELEASES_URL points the download at a mirror, with or without a trailing slash" {
  release
  export PP_RELEASES_URL="https://mirror.example/pp/"
  run "$plugin/hooks/post-command"
  [ "$status" -eq 0 ]
  [[ "$output" == *"downloading package-publisher v1.2.3 for x86_64-unknown-linux-musl from https://mirror.example/pp/v1.2.3/package-publisher-x86_64-unknown-linux-musl"* ]]
  [ "$(cat "$BATS_TEST_TMPDIR/curl.log")" = "https://mirror.example/pp/v1.2.3/package-publisher-x86_64-unknown-linux-musl" ]
}

@test "a download whose checksum does not match is refused" {
  release
  echo "tampered" >"$BATS_TEST_TMPDIR/evil"
  export CURL_SERVES="$BATS_TEST_TMPDIR/evil"
  run "$plugin/hooks/post-command"
  [ "$status" -eq 1 ]
  [[ "$output" == *"checksum mismatch"* ]]
  [[ "$output" != *"fake binary ran"* ]]
  [ ! -e "$PP_CACHE_DIR/1.2.3/x86_64-unknown-linux-musl/package-publisher" ]
  [ -z "$(find "$PP_CACHE_DIR" -name '.download.*')" ]
}

@test "a failed download is reported" {
  release
  export CURL_FAILS=1
  run "$plugin/hooks/post-command"
  [ "$status" -eq 1 ]
  [[ "$output" == *"could not download"* ]]
}

@test "the cached binary is reused after re-verification, and a tampered one is refused" {
  release
  run "$plugin/hooks/post-command"
  [ "$status" -eq 0 ]
  run "$plugin/hooks/post-command"
  [ "$status" -eq 0 ]
  [ "$(wc -l <"$BATS_TEST_TMPDIR/curl.log")" -eq 1 ]
  cached="$PP_CACHE_DIR/1.2.3/x86_64-unknown-linux-musl/package-publisher"
  printf '#!/bin/bash\necho "TAMPERED binary ran"\n' >"$cached"
  run "$plugin/hooks/post-command"
  [ "$status" -eq 0 ]
  [[ "$output" == *"does not match the pinned sha256; refusing it"* ]]
  [[ "$output" != *"TAMPERED binary ran"* ]]
  [[ "$output" == *"fake binary ran"* ]]
  [ "$(wc -l <"$BATS_TEST_TMPDIR/curl.log")" -eq 2 ]
}

@test "a triple without a pinned checksum is refused" {
  release
  export PP_UNAME_S=Darwin PP_UNAME_M=arm64
  run "$plugin/hooks/post-command"
  [ "$status" -eq 2 ]
  [[ "$output" == *"checksums.txt has no sha256 for aarch64-apple-darwin"* ]]
}

@test "a development checkout without cargo says what to do" {
  run "$plugin/hooks/post-command"
  [ "$status" -eq 1 ]
  [[ "$output" == *"development checkout"* ]]
  [[ "$output" == *"binary-path"* ]]
}

@test "a development checkout builds with cargo --locked and runs the result" {
  cat >"$BATS_TEST_TMPDIR/shims/cargo" <<SHIM
#!/bin/bash
echo "\$*" >"$BATS_TEST_TMPDIR/cargo.args"
mkdir -p "$plugin/target/release"
cp "$fake" "$plugin/target/release/package-publisher"
SHIM
  chmod +x "$BATS_TEST_TMPDIR/shims/cargo"
  run "$plugin/hooks/post-command"
  [ "$status" -eq 0 ]
  [[ "$output" == *"fake binary ran"* ]]
  grep -q -- "build --release --locked --manifest-path $plugin/Cargo.toml --target-dir $plugin/target" "$BATS_TEST_TMPDIR/cargo.args"
}

# ----- an install path nobody else can hijack

@test "a relative binary-path is refused: it is run as given, never looked up in PATH" {
  cp "$fake" "$BATS_TEST_TMPDIR/shims/package-publisher"
  export BUILDKITE_PLUGIN_PACKAGE_PUBLISHER_BINARY_PATH="package-publisher"
  run "$plugin/hooks/post-command"
  [ "$status" -eq 2 ]
  [[ "$output" == *"must be an absolute path"* ]]
  [[ "$output" != *"fake binary ran"* ]]
  mkdir "$BATS_TEST_TMPDIR/a-directory"
  export BUILDKITE_PLUGIN_PACKAGE_PUBLISHER_BINARY_PATH="$BATS_TEST_TMPDIR/a-directory"
  run "$plugin/hooks/post-command"
  [ "$status" -eq 2 ]
  [[ "$output" == *"is not an executable file"* ]]
}

@test "a cache folder owned by another user is refused, whatever that user swaps into it" {
  release
  # uid 4242 owns the cache and keeps planting its own binary there, as fast as it can.
  mkdir -p "$PP_CACHE_DIR/1.2.3/x86_64-unknown-linux-musl"
  chown -R 4242:4242 "$PP_CACHE_DIR"
  chmod 755 "$BATS_TEST_TMPDIR"
  printf '#!/bin/bash\necho "ATTACKER binary ran"\n' >"$BATS_TEST_TMPDIR/evil"
  chmod 755 "$BATS_TEST_TMPDIR/evil"
  setpriv --reuid=4242 --regid=4242 --clear-groups bash -c '
    for _ in $(seq 1 2000); do
      cp "$0" "$1.new" 2>/dev/null && mv -f "$1.new" "$1" 2>/dev/null
    done' "$BATS_TEST_TMPDIR/evil" "$PP_CACHE_DIR/1.2.3/x86_64-unknown-linux-musl/package-publisher" &
  attacker=$!
  for _ in 1 2 3 4 5; do
    run "$plugin/hooks/post-command"
    [ "$status" -eq 1 ]
    [[ "$output" == *"refusing the cache folder $PP_CACHE_DIR"* ]]
    [[ "$output" == *"owned by uid 4242"* ]]
    [[ "$output" != *"ATTACKER binary ran"* ]]
  done
  kill "$attacker" 2>/dev/null || true
  wait "$attacker" 2>/dev/null || true
}

@test "a cache under a folder others can write, or reached through a symlink, is refused" {
  release
  shared="$BATS_TEST_TMPDIR/shared"
  mkdir -m 777 "$shared"
  chmod 755 "$BATS_TEST_TMPDIR"
  export PP_CACHE_DIR="$shared/cache"
  run "$plugin/hooks/post-command"
  [ "$status" -eq 1 ]
  [[ "$output" == *"refusing the cache folder $shared: others can write to it (mode 777)"* ]]
  [[ "$output" != *"fake binary ran"* ]]

  mkdir -p "$BATS_TEST_TMPDIR/elsewhere"
  ln -s "$BATS_TEST_TMPDIR/elsewhere" "$BATS_TEST_TMPDIR/link"
  export PP_CACHE_DIR="$BATS_TEST_TMPDIR/link"
  run "$plugin/hooks/post-command"
  [ "$status" -eq 1 ]
  [[ "$output" == *"it is a symlink"* ]]

  # A sticky shared folder (like /tmp) above a private cache is fine.
  mkdir -m 1777 "$BATS_TEST_TMPDIR/sticky"
  export PP_CACHE_DIR="$BATS_TEST_TMPDIR/sticky/mine"
  run "$plugin/hooks/post-command"
  [ "$status" -eq 0 ]
  [[ "$output" == *"fake binary ran"* ]]
  [ "$(stat -c %a "$PP_CACHE_DIR")" = 700 ]
}

@test "a symlink planted at the cached binary's path is replaced, never written through" {
  release
  mkdir -p "$PP_CACHE_DIR/1.2.3/x86_64-unknown-linux-musl"
  echo "precious" >"$BATS_TEST_TMPDIR/victim"
  ln -s "$BATS_TEST_TMPDIR/victim" "$PP_CACHE_DIR/1.2.3/x86_64-unknown-linux-musl/package-publisher"
  run "$plugin/hooks/post-command"
  [ "$status" -eq 0 ]
  [[ "$output" == *"fake binary ran"* ]]
  [ "$(cat "$BATS_TEST_TMPDIR/victim")" = precious ]
  [ ! -L "$PP_CACHE_DIR/1.2.3/x86_64-unknown-linux-musl/package-publisher" ]
  # No download file is left behind.
  [ -z "$(find "$PP_CACHE_DIR" -name '.download.*')" ]
}

@test "a cache path holding backslashes verifies (hashing never sees the path)" {
  release
  export PP_CACHE_DIR="$BATS_TEST_TMPDIR/C:\\hostedtoolcache\\pp"
  run "$plugin/hooks/post-command"
  [ "$status" -eq 0 ]
  [[ "$output" == *"fake binary ran"* ]]
  run "$plugin/hooks/post-command"
  [ "$status" -eq 0 ]
  [[ "$output" != *"does not match"* ]]
  [ "$(wc -l <"$BATS_TEST_TMPDIR/curl.log")" -eq 1 ]
}

@test "a password in the mirror URL never reaches the log, and plain http needs an opt-in" {
  release
  export PP_RELEASES_URL="https://deploy:s3cret-pw@mirror.example/pp"
  export CURL_FAILS=1
  run "$plugin/hooks/post-command"
  [ "$status" -eq 1 ]
  [[ "$output" == *"https://mirror.example/pp/v1.2.3/"* ]]
  [[ "$output" != *"s3cret-pw"* ]]
  unset CURL_FAILS
  rm -f "$BATS_TEST_TMPDIR/curl.log"
  export PP_RELEASES_URL="http://mirror.example/pp"
  run "$plugin/hooks/post-command"
  [ "$status" -eq 1 ]
  [[ "$output" == *"is plain http"*"PP_ALLOW_HTTP_MIRROR=true"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/curl.log" ]
  export PP_RELEASES_URL="--config=/etc/passwd"
  run "$plugin/hooks/post-command"
  [ "$status" -eq 1 ]
  [[ "$output" == *"is not an https:// URL"* ]]
}

@test "a stalled mirror ends within the documented time, leaving no partial file" {
  release
  # The real curl against a loopback server that accepts and never answers.
  export PATH="/usr/bin:/bin"
  python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
conns = []
end = time.time() + 60
while time.time() < end:
    c, _ = s.accept(); conns.append(c)
' "$BATS_TEST_TMPDIR/port" &
  server=$!
  for _ in $(seq 1 50); do [ -s "$BATS_TEST_TMPDIR/port" ] && break; sleep 0.1; done
  port="$(cat "$BATS_TEST_TMPDIR/port")"
  export PP_RELEASES_URL="http://127.0.0.1:$port" PP_ALLOW_HTTP_MIRROR=true PP_DOWNLOAD_MAX_TIME=2
  start=$SECONDS
  run timeout 60 "$plugin/hooks/post-command"
  elapsed=$((SECONDS - start))
  kill "$server" 2>/dev/null || true
  [ "$status" -eq 1 ]
  [[ "$output" == *"could not download"* ]]
  # Four attempts (one try and three retries) of at most 2 s each, 2 s apart.
  [ "$elapsed" -lt 30 ]
  [ -z "$(find "$PP_CACHE_DIR" -name '.download.*')" ]
}

@test "a development build ignores the job's cargo settings and runs what it built" {
  cat >"$BATS_TEST_TMPDIR/shims/cargo" <<SHIM
#!/bin/bash
echo "\$*" >"$BATS_TEST_TMPDIR/cargo.args"
echo "CARGO_TARGET_DIR=\${CARGO_TARGET_DIR:-unset} RUSTFLAGS=\${RUSTFLAGS:-unset} PWD=\$PWD" >"$BATS_TEST_TMPDIR/cargo.env"
mkdir -p "$plugin/target/release"
cp "$fake" "$plugin/target/release/package-publisher"
SHIM
  chmod +x "$BATS_TEST_TMPDIR/shims/cargo"
  # The job points cargo elsewhere and holds a stale binary there.
  mkdir -p "$BATS_TEST_TMPDIR/job/stale/release"
  printf '#!/bin/bash\necho "STALE binary ran"\n' >"$BATS_TEST_TMPDIR/job/stale/release/package-publisher"
  chmod +x "$BATS_TEST_TMPDIR/job/stale/release/package-publisher"
  export CARGO_TARGET_DIR="$BATS_TEST_TMPDIR/job/stale" RUSTFLAGS="-C evil" PP_REBUILD=false
  cd "$BATS_TEST_TMPDIR/job"
  run "$plugin/hooks/post-command"
  [ "$status" -eq 0 ]
  [[ "$output" == *"fake binary ran"* ]]
  [[ "$output" != *"STALE binary ran"* ]]
  [ "$(cat "$BATS_TEST_TMPDIR/cargo.env")" = "CARGO_TARGET_DIR=unset RUSTFLAGS=unset PWD=$plugin" ]
  grep -q -- "--target-dir $plugin/target" "$BATS_TEST_TMPDIR/cargo.args"
}
