#!/bin/bash
# Finds or fetches the package-publisher binary for the Buildkite hook and the GitHub
# Action, in this order:
#   1. an explicit binary path (the `binary-path` option);
#   2. a release asset for this machine's Rust target triple, downloaded with retries,
#      checked against the sha256 table committed beside this file (checksums.txt),
#      cached, and re-verified before every run;
#   3. from a checkout that is not a release (VERSION says "dev"), `cargo build
#      --release --locked`.
# Every function prints its messages to stderr; resolve_binary prints only the path.
#
# Environment (read here, by the hook and the action, never by the binary):
#   PP_RELEASES_URL  where release assets are downloaded from, for a mirror behind a
#                    firewall (and the test suite's release rehearsal): the asset is
#                    fetched from <PP_RELEASES_URL>/v<version>/package-publisher-<triple>.
#                    Default: this project's GitHub releases. Whatever the source, the
#                    asset must match the sha256 pinned in checksums.txt.
#   PP_CACHE_DIR     where verified binaries are kept (default: a per-user folder under
#                    BUILDKITE_PLUGINS_PATH, RUNNER_TOOL_CACHE or TMPDIR).

# The Rust target triple of this machine, or fails.
pp_target_triple() {
  local os arch
  os="${PP_UNAME_S:-$(uname -s)}"
  arch="${PP_UNAME_M:-$(uname -m)}"
  case "$arch" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64 | arm64e | armv8*) arch=aarch64 ;;
    *)
      echo "package-publisher: no release binary for the CPU architecture '$arch'; set binary-path to a binary you built" >&2
      return 2
      ;;
  esac
  case "$os" in
    Linux) echo "${arch}-unknown-linux-musl" ;;
    Darwin) echo "${arch}-apple-darwin" ;;
    MINGW* | MSYS* | CYGWIN* | Windows_NT) echo "${arch}-pc-windows-msvc" ;;
    *)
      echo "package-publisher: no release binary for the operating system '$os'; set binary-path to a binary you built" >&2
      return 2
      ;;
  esac
}

# sha256 of a file, with whichever tool the machine has.
pp_sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# The pinned sha256 for a triple from checksums.txt, or nothing.
pp_expected_sha() {
  local dir="$1" triple="$2"
  awk -v name="package-publisher-${triple}" '$1 !~ /^#/ && $2 == name { print $1 }' "$dir/checksums.txt"
}

# Downloads a URL to a file with retries.
pp_download() {
  local url="$1" dest="$2"
  curl --fail --silent --show-error --location --proto '=https,http' --retry 5 --retry-delay 2 --connect-timeout 20 --output "$dest" "$url"
}

# Prints the path of a verified binary to run. Arguments: the plugin/action directory
# and the binary-path option (may be empty).
resolve_binary() {
  local dir="$1" explicit="${2:-}"
  if [[ -n "$explicit" ]]; then
    if [[ ! -x "$explicit" ]]; then
      echo "package-publisher: binary-path '$explicit' is not an executable file" >&2
      return 2
    fi
    echo "$explicit"
    return 0
  fi

  local version
  version="$(tr -d '[:space:]' <"$dir/VERSION")"
  if [[ "$version" == "dev" ]]; then
    if [[ -x "$dir/target/release/package-publisher" && "${PP_REBUILD:-true}" != "true" ]]; then
      echo "$dir/target/release/package-publisher"
      return 0
    fi
    if ! command -v cargo >/dev/null 2>&1; then
      echo "package-publisher: this is a development checkout (VERSION is dev) and cargo is not installed; pin a release tag, or set binary-path" >&2
      return 1
    fi
    echo "~~~ :rust: building package-publisher from source (development checkout; the first build takes a few minutes)" >&2
    if ! cargo build --release --locked --manifest-path "$dir/Cargo.toml" >&2; then
      echo "package-publisher: cargo build failed; set binary-path, or pin a release tag" >&2
      return 1
    fi
    echo "$dir/target/release/package-publisher"
    return 0
  fi

  local triple expected cache binary
  triple="$(pp_target_triple)" || return $?
  expected="$(pp_expected_sha "$dir" "$triple")"
  if [[ -z "$expected" ]]; then
    echo "package-publisher: checksums.txt has no sha256 for ${triple}; set binary-path to a binary you built" >&2
    return 2
  fi
  # Per user, so nobody else on a shared machine can plant a binary between the
  # checksum check and the exec.
  cache="${PP_CACHE_DIR:-${BUILDKITE_PLUGINS_PATH:-${RUNNER_TOOL_CACHE:-${TMPDIR:-/tmp}}}/package-publisher-cache-$(id -u)}/${version}/${triple}"
  binary="$cache/package-publisher"
  if [[ -f "$binary" ]]; then
    if [[ "$(pp_sha256 "$binary")" == "$expected" ]]; then
      echo "$binary"
      return 0
    fi
    echo "package-publisher: the cached binary $binary does not match the pinned sha256; refusing it and downloading again" >&2
    rm -f "$binary"
  fi
  mkdir -p "$cache"
  chmod 700 "$cache" 2>/dev/null || true
  local base="${PP_RELEASES_URL:-https://github.com/package-publisher/package-publisher-buildkite-plugin/releases/download}"
  local url="${base%/}/v${version}/package-publisher-${triple}"
  local tmp="$binary.download.$$"
  echo "~~~ :package: downloading package-publisher v${version} for ${triple} from ${url}" >&2
  if ! pp_download "$url" "$tmp"; then
    rm -f "$tmp"
    echo "package-publisher: could not download $url; check that release v${version} has an asset for ${triple} (or that PP_RELEASES_URL points at a mirror that has it), or set binary-path" >&2
    return 1
  fi
  local actual
  actual="$(pp_sha256 "$tmp")"
  if [[ "$actual" != "$expected" ]]; then
    rm -f "$tmp"
    echo "package-publisher: checksum mismatch for $url: expected sha256 $expected (pinned in checksums.txt), got $actual; refusing to run it" >&2
    return 1
  fi
  echo "package-publisher: sha256 $actual matches checksums.txt; cached in $cache" >&2
  if ! { chmod +x "$tmp" && mv "$tmp" "$binary"; }; then
    echo "package-publisher: could not install the binary into $cache" >&2
    return 1
  fi
  echo "$binary"
}
