#!/bin/bash
# Finds or fetches the package-publisher binary for the Buildkite hook and the GitHub
# Action, in this order:
#   1. an explicit binary path (the `binary-path` option): an absolute path to a
#      regular executable file, checked and run as that same path;
#   2. a release asset for this machine's Rust target triple, downloaded over HTTPS
#      with time limits, checked against the sha256 table committed beside this file
#      (checksums.txt), kept in a cache only this user can write, and re-verified
#      before every run;
#   3. from a checkout that is not a release (VERSION says "dev"), `cargo build
#      --release --locked` in the plugin's own directory with its own target
#      directory, whatever the job's cargo settings; the binary that build produced
#      is the one run.
# Every function prints its messages to stderr; resolve_binary prints only the path.
#
# The bytes run are the bytes verified: the cache and every folder above it must be
# owned by this user (or root) and writable by no one else (a sticky folder such as
# /tmp excepted above the cache), and must not be symlinks, so nobody else can swap
# the file between the check and the exec. A folder that breaks this is refused with
# a message saying which and why; nothing is run from it.
#
# Environment (read here, by the hook and the action, never by the binary):
#   PP_RELEASES_URL       where release assets are downloaded from, for a mirror
#                         behind a firewall: the asset is fetched from
#                         <PP_RELEASES_URL>/v<version>/package-publisher-<triple>.
#                         HTTPS only, unless PP_ALLOW_HTTP_MIRROR=true. Default: this
#                         project's GitHub releases. Whatever the source, the asset
#                         must match the sha256 pinned in checksums.txt.
#   PP_ALLOW_HTTP_MIRROR  `true` lets PP_RELEASES_URL be plain http (a loopback or
#                         internal mirror); the pinned sha256 still decides.
#   PP_CACHE_DIR          where verified binaries are kept. Default: the runner's tool
#                         cache on GitHub, else $XDG_CACHE_HOME or ~/.cache, under
#                         package-publisher/.
#   PP_DOWNLOAD_MAX_TIME  seconds a download may take in all (default 300); a
#                         transfer slower than 1 KiB/s for 30 s is abandoned too.

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

# A notice on stderr: a collapsed log group on Buildkite, a plain line on GitHub
# (whose log has no `~~~` groups).
pp_notice() {
  if [[ "${GITHUB_ACTIONS:-}" == true ]]; then
    echo "package-publisher: ${1#:*: }" >&2
  else
    echo "~~~ $1" >&2
  fi
}

# Whether this is Windows' bash (Git Bash, MSYS, Cygwin), where POSIX owners and
# modes do not describe who may write a folder.
pp_windows() {
  case "${PP_UNAME_S:-$(uname -s)}" in
    MINGW* | MSYS* | CYGWIN* | Windows_NT) return 0 ;;
    *) return 1 ;;
  esac
}

# sha256 of a file, read from standard input so that no tool escapes or rewrites its
# path (sha256sum prefixes a path holding a backslash with `\`, as on Windows).
pp_sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum <"$1" | cut -d' ' -f1
  else
    shasum -a 256 <"$1" | cut -d' ' -f1
  fi
}

# The pinned sha256 for a triple from checksums.txt, or nothing.
pp_expected_sha() {
  local dir="$1" triple="$2"
  awk -v name="package-publisher-${triple}" '$1 !~ /^#/ && $2 == name { print $1 }' "$dir/checksums.txt"
}

# A URL without credentials, for messages.
pp_redact_url() {
  printf '%s\n' "$1" | sed -E 's#^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@#\1#'
}

# "uid mode" of a path (mode in octal), on Linux and macOS.
pp_owner_mode() {
  stat -c '%u %a' -- "$1" 2>/dev/null || stat -f '%u %Lp' -- "$1" 2>/dev/null
}

# Checks one folder on the way to the cache: a real folder, owned by this user or
# root, and writable by no one else (unless `sticky_ok` and it is sticky, as /tmp
# is, where nobody can rename what they do not own).
pp_check_level() {
  local path="$1" sticky_ok="$2" me owner mode
  me="$(id -u)"
  if [[ -L "$path" ]]; then
    echo "package-publisher: refusing the cache folder $path: it is a symlink; set PP_CACHE_DIR to a folder only you can write" >&2
    return 1
  fi
  if [[ ! -d "$path" ]]; then
    echo "package-publisher: refusing the cache folder $path: it is not a folder" >&2
    return 1
  fi
  read -r owner mode < <(pp_owner_mode "$path") || true
  if [[ -z "${owner:-}" || -z "${mode:-}" ]]; then
    echo "package-publisher: cannot read the owner and mode of $path; set PP_CACHE_DIR to a folder only you can write" >&2
    return 1
  fi
  if [[ "$owner" != "$me" && "$owner" != 0 ]]; then
    echo "package-publisher: refusing the cache folder $path: it is owned by uid $owner, not by you (uid $me); set PP_CACHE_DIR to a folder only you can write" >&2
    return 1
  fi
  # Group or other write bits (the last two digits of the octal mode).
  local perm=$((8#$mode))
  if ((perm & 8#022)); then
    if [[ "$sticky_ok" == true ]] && ((perm & 8#1000)); then
      return 0
    fi
    echo "package-publisher: refusing the cache folder $path: others can write to it (mode $mode); set PP_CACHE_DIR to a folder only you can write" >&2
    return 1
  fi
}

# Creates the cache folder `root/sub` (every new level 0700) and checks it: every
# level from `root` down must be a real folder (not a symlink) owned by this user and
# writable by no one else; every folder above `root` (on its physical path) must be
# owned by this user or root and writable by no one else, unless it is sticky (as
# /tmp is: nobody can rename there what they do not own). Fails with a message.
pp_private_dir() {
  local root="$1" sub="$2"
  (umask 077 && mkdir -p -- "$root/$sub") || {
    echo "package-publisher: cannot create the cache folder $root/$sub" >&2
    return 1
  }
  pp_windows && return 0
  local me path
  me="$(id -u)"
  path="$root"
  local -a levels=("$root")
  local part
  IFS=/ read -r -a parts <<<"$sub"
  for part in "${parts[@]}"; do
    [[ -n "$part" ]] || continue
    path="$path/$part"
    levels+=("$path")
  done
  for path in "${levels[@]}"; do
    pp_check_level "$path" false || return 1
    if [[ "$(pp_owner_mode "$path" | cut -d' ' -f1)" != "$me" ]]; then
      echo "package-publisher: refusing the cache folder $path: it is not owned by you (uid $me); set PP_CACHE_DIR to a folder only you can write" >&2
      return 1
    fi
  done
  path="$(cd -P -- "$root/.." && pwd -P)" || return 1
  while :; do
    pp_check_level "$path" true || return 1
    [[ "$path" == / ]] && break
    path="$(dirname -- "$path")"
  done
}

# Where verified binaries are cached by default.
pp_default_cache() {
  if [[ "${GITHUB_ACTIONS:-}" == true && -n "${RUNNER_TOOL_CACHE:-}" ]]; then
    echo "$RUNNER_TOOL_CACHE/package-publisher"
  elif [[ -n "${XDG_CACHE_HOME:-}" ]]; then
    echo "$XDG_CACHE_HOME/package-publisher"
  elif [[ -n "${HOME:-}" ]]; then
    echo "$HOME/.cache/package-publisher"
  else
    echo "package-publisher: no cache folder: HOME is not set; set PP_CACHE_DIR" >&2
    return 1
  fi
}

# Downloads a URL to a file: HTTPS only (redirects too) unless a plain-http mirror
# was allowed, TLS 1.2 or later, bounded in time and speed, credentials never shown.
pp_download() {
  local url="$1" dest="$2" protocols="=https"
  [[ "${PP_ALLOW_HTTP_MIRROR:-false}" == true ]] && protocols="=http,https"
  curl --fail --silent --show-error --location \
    --proto "$protocols" --proto-redir "$protocols" --tlsv1.2 \
    --retry 3 --retry-delay 2 --connect-timeout 20 \
    --max-time "${PP_DOWNLOAD_MAX_TIME:-300}" --speed-limit 1024 --speed-time 30 \
    --output "$dest" -- "$url" 2> >(sed -E 's#([A-Za-z][A-Za-z0-9+.-]*://)[^/@ ]*@#\1#g' >&2)
}

# The development build: in the plugin's own directory, into its own target
# directory, with none of the job's cargo settings; prints the binary it produced.
pp_dev_build() {
  local dir="$1"
  if ! command -v cargo >/dev/null 2>&1; then
    echo "package-publisher: this is a development checkout (VERSION is dev) and cargo is not installed; install the Rust toolchain on the agent, or set binary-path to a binary you built (see the README's \"Before the first release\")" >&2
    return 1
  fi
  pp_notice ":rust: building package-publisher from source (development checkout; the first build takes a few minutes)"
  # On GitHub, cargo's output goes into a collapsed group (on stderr: stdout carries
  # the binary's path); Buildkite's `~~~` notice above already starts one.
  local github=false
  [[ "${GITHUB_ACTIONS:-}" == true ]] && github=true
  [[ "$github" == true ]] && echo "::group::cargo build --release (package-publisher from source)" >&2
  local built=true
  (cd "$dir" && env -u CARGO_TARGET_DIR -u CARGO_BUILD_TARGET_DIR -u CARGO_BUILD_TARGET \
    -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u RUSTC_WRAPPER -u CARGO_BUILD_RUSTC_WRAPPER -u CARGO_BUILD_RUSTFLAGS \
    cargo build --release --locked --manifest-path "$dir/Cargo.toml" --target-dir "$dir/target" >&2) || built=false
  [[ "$github" == true ]] && echo "::endgroup::" >&2
  if [[ "$built" != true ]]; then
    echo "package-publisher: cargo build failed; set binary-path, or pin a release tag" >&2
    return 1
  fi
  echo "$dir/target/release/package-publisher"
}

# Prints the path of a verified binary to run. Arguments: the plugin/action directory
# and the binary-path option (may be empty).
resolve_binary() {
  local dir="$1" explicit="${2:-}"
  if [[ -n "$explicit" ]]; then
    if [[ "$explicit" != /* ]] && ! { pp_windows && [[ "$explicit" =~ ^[A-Za-z]:[\\/] ]]; }; then
      echo "package-publisher: binary-path '$explicit' must be an absolute path (it is run as given, never looked up in PATH)" >&2
      return 2
    fi
    if [[ ! -f "$explicit" || ! -x "$explicit" ]]; then
      echo "package-publisher: binary-path '$explicit' is not an executable file" >&2
      return 2
    fi
    echo "$explicit"
    return 0
  fi

  local version
  version="$(tr -d '[:space:]' <"$dir/VERSION")"
  if [[ "$version" == "dev" ]]; then
    pp_dev_build "$dir"
    return $?
  fi

  local triple expected cache binary
  triple="$(pp_target_triple)" || return $?
  expected="$(pp_expected_sha "$dir" "$triple")"
  if [[ -z "$expected" ]]; then
    echo "package-publisher: checksums.txt has no sha256 for ${triple}; set binary-path to a binary you built" >&2
    return 2
  fi
  local root
  root="${PP_CACHE_DIR:-$(pp_default_cache)}" || return 1
  cache="$root/${version}/${triple}"
  pp_private_dir "$root" "${version}/${triple}" || return 1
  binary="$cache/package-publisher"
  if [[ -L "$binary" ]]; then
    rm -f -- "$binary"
  elif [[ -f "$binary" ]]; then
    if [[ "$(pp_sha256 "$binary")" == "$expected" ]]; then
      echo "$binary"
      return 0
    fi
    echo "package-publisher: the cached binary $binary does not match the pinned sha256; refusing it and downloading again" >&2
    rm -f -- "$binary"
  fi
  pp_fetch "$cache" "$version" "$triple" "$expected" || return 1
  echo "$binary"
}

# Downloads the release asset into the private cache under a fresh name, verifies
# it, and moves it into place.
pp_fetch() {
  local cache="$1" version="$2" triple="$3" expected="$4"
  local base="${PP_RELEASES_URL:-https://github.com/package-publisher/package-publisher-buildkite-plugin/releases/download}"
  case "$base" in
    https://*) ;;
    http://*)
      if [[ "${PP_ALLOW_HTTP_MIRROR:-false}" != true ]]; then
        echo "package-publisher: PP_RELEASES_URL $(pp_redact_url "$base") is plain http; use https, or set PP_ALLOW_HTTP_MIRROR=true for a mirror you trust to be reached that way (the pinned sha256 still decides)" >&2
        return 1
      fi
      ;;
    *)
      echo "package-publisher: PP_RELEASES_URL '$(pp_redact_url "$base")' is not an https:// URL" >&2
      return 1
      ;;
  esac
  local url="${base%/}/v${version}/package-publisher-${triple}"
  local shown
  shown="$(pp_redact_url "$url")"
  local tmp
  tmp="$(mktemp "$cache/.download.XXXXXXXX")" || {
    echo "package-publisher: cannot create a download file in $cache" >&2
    return 1
  }
  # A cancelled or failed download leaves nothing behind (the traps are set with the
  # name expanded now: a function's locals are gone when the shell exits).
  local cleanup
  cleanup="rm -f -- $(printf '%q' "$tmp")"
  # shellcheck disable=SC2064
  trap "$cleanup" EXIT
  # shellcheck disable=SC2064
  trap "$cleanup; exit 130" INT TERM
  pp_notice ":package: downloading package-publisher v${version} for ${triple} from ${shown}"
  if ! pp_download "$url" "$tmp"; then
    rm -f -- "$tmp"
    echo "package-publisher: could not download $shown; check that release v${version} has an asset for ${triple} (or that PP_RELEASES_URL points at a mirror that has it), or set binary-path" >&2
    return 1
  fi
  local actual
  actual="$(pp_sha256 "$tmp")"
  if [[ "$actual" != "$expected" ]]; then
    rm -f -- "$tmp"
    echo "package-publisher: checksum mismatch for $shown: expected sha256 $expected (pinned in checksums.txt), got $actual; refusing to run it" >&2
    return 1
  fi
  if ! { chmod 700 -- "$tmp" && mv -f -- "$tmp" "$cache/package-publisher"; }; then
    rm -f -- "$tmp"
    echo "package-publisher: could not install the binary into $cache" >&2
    return 1
  fi
  trap - EXIT INT TERM
  echo "package-publisher: sha256 $actual matches checksums.txt; cached in $cache" >&2
}
