#!/usr/bin/env bats
# Runs the composite action's own `run:` scripts (taken from action.yml) the way the
# runner does, with stand-in binaries: binary resolution and the api-token hand-over.
# shellcheck disable=SC2030,SC2031,SC2016

# The `run:` script of the action step with this id.
step() {
  local python=python3
  # The test tools' venv has PyYAML; a system python3 may not.
  [ -x "$repo/.ci-cache/venv/bin/python3" ] && python="$repo/.ci-cache/venv/bin/python3"
  "$python" -c 'import sys, yaml; a = yaml.safe_load(open(sys.argv[1])); print(next(s["run"] for s in a["runs"]["steps"] if s.get("id") == sys.argv[2]))' "$repo/action.yml" "$1"
}

setup() {
  repo="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
  fake="$BATS_TEST_TMPDIR/fake-binary"
  printf '#!/bin/bash\necho "token=${BUILDKITE_API_TOKEN:-unset} input=${PP_API_TOKEN_INPUT:-unset}"\n' >"$fake"
  chmod +x "$fake"
  export GITHUB_OUTPUT="$BATS_TEST_TMPDIR/output"
  : >"$GITHUB_OUTPUT"
}

@test "the install step resolves binary-path and writes it as a step output" {
  export GITHUB_ACTION_PATH="$repo" INPUT_BINARY_PATH="$fake"
  run bash -eo pipefail -c "$(step install)"
  [ "$status" -eq 0 ]
  grep -qx "path=$fake" "$GITHUB_OUTPUT"
}

@test "the install step fails when binary-path is not executable" {
  export GITHUB_ACTION_PATH="$repo" INPUT_BINARY_PATH="$BATS_TEST_TMPDIR/nope"
  run bash -eo pipefail -c "$(step install)"
  [ "$status" -ne 0 ]
  [[ "$output" == *"is not an executable file"* ]]
}

@test "a token already in the environment is kept when the api-token input is empty" {
  export PP_BINARY="$fake" BUILDKITE_API_TOKEN=from-env PP_API_TOKEN_INPUT=""
  run bash -eo pipefail -c "$(step run)"
  [ "$status" -eq 0 ]
  [ "$output" = "token=from-env input=unset" ]
}

@test "the api-token input becomes BUILDKITE_API_TOKEN and is not passed on under its own name" {
  export PP_BINARY="$fake" PP_API_TOKEN_INPUT=from-input
  unset BUILDKITE_API_TOKEN
  run bash -eo pipefail -c "$(step run)"
  [ "$status" -eq 0 ]
  [ "$output" = "token=from-input input=unset" ]
}

@test "on GitHub a development build's cargo output is a collapsed group, and its binary the step output" {
  action="$BATS_TEST_TMPDIR/action"
  mkdir -p "$action/lib" "$BATS_TEST_TMPDIR/shims"
  cp "$repo/lib/binary.bash" "$action/lib/"
  echo "dev" >"$action/VERSION"
  : >"$action/checksums.txt"
  cat >"$BATS_TEST_TMPDIR/shims/cargo" <<SHIM
#!/bin/bash
echo "   Compiling package-publisher (cargo's own output)" >&2
mkdir -p "$action/target/release"
cp "$fake" "$action/target/release/package-publisher"
SHIM
  chmod +x "$BATS_TEST_TMPDIR/shims/cargo"
  export PATH="$BATS_TEST_TMPDIR/shims:$PATH" GITHUB_ACTIONS=true GITHUB_ACTION_PATH="$action" INPUT_BINARY_PATH=""
  run bash -eo pipefail -c "$(step install)"
  [ "$status" -eq 0 ]
  grep -qx "path=$action/target/release/package-publisher" "$GITHUB_OUTPUT"
  # The group opens before cargo's output and closes after it.
  group=$(printf '%s\n' "${lines[@]}" | grep -n '^::group::' | cut -d: -f1)
  compiling=$(printf '%s\n' "${lines[@]}" | grep -n 'Compiling package-publisher' | cut -d: -f1)
  endgroup=$(printf '%s\n' "${lines[@]}" | grep -n '^::endgroup::' | cut -d: -f1)
  [ -n "$group" ] && [ -n "$compiling" ] && [ -n "$endgroup" ]
  [ "$group" -lt "$compiling" ] && [ "$compiling" -lt "$endgroup" ]
}

