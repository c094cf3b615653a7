# Shared by the scripts: where things are, logging, and installing what a fresh Debian 12
# machine lacks. Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SIM_TARGET=i686-unknown-linux-gnu

say() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# apt packages the project needs, installed once; idempotent.
APT_PACKAGES=(
    gcc-multilib libc6-dev-i386 xz-utils            # the i686 sim, the image tool
    cmake libclang-dev                              # mbedTLS (built by cmake, bound by bindgen)
    iproute2 dnsmasq-base chrony                    # the sim's test network
    openssl mosquitto mosquitto-clients nginx-light # the test PKI and servers
)

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

# lwIP 2.1.3 (the version the W800 SDK ships) from Debian's source package, unpacked into a
# git-ignored cache; net/lwip-sys compiles it from there (LWIP_SRC overrides the location).
LWIP_VERSION=2.1.3+dfsg1-2
LWIP_SRC="${LWIP_SRC:-$ROOT/.cache/lwip-2.1.3}"
export LWIP_SRC

ensure_lwip() {
    [ -f "$LWIP_SRC/src/core/tcp.c" ] && return 0
    say "fetching lwIP $LWIP_VERSION from Debian's source package"
    local sources=/etc/apt/sources.list.d/w800-debian-src.sources
    if ! apt-cache showsrc lwip 2>/dev/null | grep -q "^Version: $LWIP_VERSION"; then
        local sudo=""
        [ "$(id -u)" -ne 0 ] && sudo=sudo
        # The same suites as the binary sources, for source packages (verified by apt).
        sed -n '/^Types: deb$/,/^$/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null \
            | sed 's/^Types: deb$/Types: deb-src/' | $sudo tee "$sources" >/dev/null
        [ -s "$sources" ] || printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' | $sudo tee "$sources" >/dev/null
        $sudo apt-get update -qq
    fi
    local tmp
    tmp="$(mktemp -d)"
    (cd "$tmp" && apt-get source --download-only -qq "lwip=$LWIP_VERSION" >/dev/null 2>&1) \
        || die "could not download the lwip $LWIP_VERSION source package"
    mkdir -p "$LWIP_SRC"
    tar -xf "$tmp"/lwip_*.orig.tar.xz -C "$LWIP_SRC" --strip-components=1
    rm -rf "$tmp"
    [ -f "$LWIP_SRC/src/core/tcp.c" ] || die "lwIP source incomplete in $LWIP_SRC"
}

ensure_base() {
    ensure_apt "$@"
    ensure_rust
    ensure_lwip
}

# The sim firmware as it goes into `app` (docs/sim-boot.md): the release profile made as
# small as it gets, since app takes at most 1,186,816 bytes of body: optimised for size, one
# codegen unit with whole-program LTO, no debug information, stripped, and a panic aborts (as
# on the chip) rather than unwind. The profile is defined here, for every script and test that
# builds it. Its version is W800_FIRMWARE_VERSION when set, else the crate's (app/build.rs).
SIM_PROFILE=sim-image
SIM_PROFILE_CONFIG=(
    --config "profile.$SIM_PROFILE.inherits=\"release\""
    --config "profile.$SIM_PROFILE.opt-level=\"z\""
    --config "profile.$SIM_PROFILE.lto=\"fat\""
    --config "profile.$SIM_PROFILE.codegen-units=1"
    --config "profile.$SIM_PROFILE.debug=false"
    --config "profile.$SIM_PROFILE.strip=true"
    --config "profile.$SIM_PROFILE.panic=\"abort\""
)
SIM_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/$SIM_TARGET/$SIM_PROFILE/w800-sim"
build_sim() {
    (cd "$ROOT" && cargo build "${SIM_PROFILE_CONFIG[@]}" --profile "$SIM_PROFILE" -p app --bin w800-sim --quiet)
}
