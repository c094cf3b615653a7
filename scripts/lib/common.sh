# Shared by the scripts: where things are, logging, and installing what a fresh Debian 12
# machine lacks. Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SIM_TARGET=i686-unknown-linux-gnu

say() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# apt packages the project needs, installed once; idempotent.
APT_PACKAGES=(gcc-multilib libc6-dev-i386 xz-utils openssl mosquitto mosquitto-clients)

ensure_apt() {
    local missing=()
    for p in "${APT_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing apt packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The pinned Rust toolchain (rust-toolchain.toml) with the sim target and rust-src.
ensure_rust() {
    command -v rustup >/dev/null || die "rustup is required (https://rustup.rs)"
    local channel
    channel="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$ROOT/rust-toolchain.toml")"
    if ! rustup toolchain list | grep -q "^$channel"; then
        say "installing Rust $channel"
        rustup toolchain install "$channel" --profile minimal --component rustfmt,clippy,rust-src
    fi
    if ! rustup +"$channel" target list --installed | grep -qx "$SIM_TARGET"; then
        say "adding target $SIM_TARGET"
        rustup +"$channel" target add "$SIM_TARGET"
    fi
    local c
    for c in rustfmt clippy rust-src; do
        rustup +"$channel" component list --installed | grep -q "^$c" || rustup +"$channel" component add "$c"
    done
}

ensure_base() {
    ensure_apt "$@"
    ensure_rust
}

# The sim firmware, built if needed.
SIM_BIN="$ROOT/target/$SIM_TARGET/release/w800-sim"
build_sim() {
    (cd "$ROOT" && cargo build --release -p app --bin w800-sim --quiet)
}
