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
    --retry|--retry-delay|--connect-timeout|--proto) shift 2 ;;
    -*) shift ;;
    *) url="$1"; shift ;;
  esac
done
echo "$url" >>"$BATS_TEST_TMPDIR/curl.log"
[ -n "${CURL_FAILS:-}" ] && exit 22
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
  grep -q -- "build --release --locked --manifest-path $plugin/Cargo.toml" "$BATS_TEST_TMPDIR/cargo.args"
}
