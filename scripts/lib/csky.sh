# The C-SKY (ck804ef) cross build: the C toolchain, and cargo for the bare-metal target.
# Sourced after common.sh, not run.
#
# The C toolchain comes from the first of:
#   1. W800_CSKY_TOOLCHAIN: the prefix of a toolchain's tools, e.g. a vendor XuanTie
#      toolchain's /opt/xuantie/bin/csky-elfabiv2- (used as is, nothing is installed);
#   2. the cache, $W800_CACHE (default ~/.cache/w800-rs), from an earlier run;
#   3. a prebuilt tarball outside the repository (CSKY_TARBALL below), when it is there,
#      checked and unpacked into the cache;
#   4. a bootstrap from Debian's source packages into the cache (scripts/lib/csky-bootstrap.sh,
#      about 8 minutes on 2 cores).

CSKY_TARGET_NAME=csky-none-elfabiv2
CSKY_TARGET_JSON="$ROOT/targets/$CSKY_TARGET_NAME.json"
CSKY_TOOLCHAIN_NAME=csky-elf-gcc12.2-newlib3.3
CSKY_TARBALL="$ROOT/../shared/toolchains/$CSKY_TOOLCHAIN_NAME-x86_64.tar.xz"
CSKY_TARBALL_SHA256=35a2298e9e225c24220b7c347f027188bf3228b93dd325c1da69d06f97459ebd
W800_CACHE="${W800_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/w800-rs}"

# Unpacks the prebuilt tarball into $1 if it is there and intact; fails otherwise.
csky_unpack_prebuilt() {
    local dest=$1
    [ -f "$CSKY_TARBALL" ] || return 1
    say "unpacking the prebuilt C-SKY toolchain from $CSKY_TARBALL"
    echo "$CSKY_TARBALL_SHA256  $CSKY_TARBALL" | sha256sum --check --quiet - \
        || die "$CSKY_TARBALL does not have the expected sha256"
    rm -rf "$dest" && mkdir -p "$dest"
    tar -xJf "$CSKY_TARBALL" -C "$dest" --strip-components=1
}

# Sets CSKY_PREFIX (e.g. ~/.cache/w800-rs/csky-elf-gcc12.2-newlib3.3/bin/csky-elf-) and the
# environment cargo needs for the C-SKY target, installing the toolchain if needed.
ensure_csky_toolchain() {
    if [ -n "${W800_CSKY_TOOLCHAIN:-}" ]; then
        CSKY_PREFIX=$W800_CSKY_TOOLCHAIN
        [ -x "${CSKY_PREFIX}gcc" ] || die "W800_CSKY_TOOLCHAIN=$W800_CSKY_TOOLCHAIN: no ${CSKY_PREFIX}gcc"
    else
        local dir="$W800_CACHE/$CSKY_TOOLCHAIN_NAME"
        if [ ! -f "$dir/.complete" ]; then
            if ! csky_unpack_prebuilt "$dir"; then
                say "no prebuilt C-SKY toolchain at $CSKY_TARBALL: bootstrapping one from" \
                    "Debian's source packages into $dir (about 8 minutes on 2 cores)"
                bash "$ROOT/scripts/lib/csky-bootstrap.sh" "$dir"
            fi
            touch "$dir/.complete"
        fi
        CSKY_PREFIX="$dir/bin/csky-elf-"
    fi
    local gcc="${CSKY_PREFIX}gcc"
    # cc-rs (FreeRTOS and the other C parts) and rustc's link step use the same compiler.
    export CC_csky_none_elfabiv2="$gcc"
    export AR_csky_none_elfabiv2="${CSKY_PREFIX}ar"
    export CARGO_TARGET_CSKY_NONE_ELFABIV2_LINKER="$gcc"
    # bindgen (mbedTLS) reads the toolchain's headers (the sysroot is <install>/<triple>).
    # Debian 12's libclang 14 has no C-SKY target; i686 lays C structs out as C-SKY ABIv2 does
    # (32-bit pointers and longs, 64-bit integers 4-aligned), so its bindings are the same
    # (docs/toolchain.md, "Bindings for C-SKY").
    local sysroot
    sysroot="$(cd "$(dirname "$gcc")/.." && pwd)/$("$gcc" -dumpmachine)"
    export BINDGEN_EXTRA_CLANG_ARGS_csky_none_elfabiv2="--target=i686-unknown-linux-gnu --sysroot=$sysroot"
    # -Zbuild-std and the JSON target spec are unstable options of the pinned stable toolchain.
    export RUSTC_BOOTSTRAP=1
}

# The firmware binary cargo builds for a C-SKY board.
csky_firmware_path() {
    echo "${CARGO_TARGET_DIR:-$ROOT/target}/$CSKY_TARGET_NAME/release/$(csky_bin_name "$1")"
}

csky_bin_name() {
    case "$1" in
        qemu) echo w800-qemu ;;
        w800) echo w800 ;;
        *) die "not a C-SKY board: $1" ;;
    esac
}

# cargo with core and alloc built from rust-src for the C-SKY target; the rest of the
# arguments are cargo's, after the subcommand ($1).
csky_cargo() {
    local subcommand=$1
    shift
    (cd "$ROOT" && cargo "$subcommand" --release \
        -Zbuild-std=core,alloc -Zjson-target-spec --target "$CSKY_TARGET_JSON" "$@")
}

# Builds the firmware of a C-SKY board (qemu or w800).
build_csky() {
    local board=$1
    ensure_csky_toolchain
    csky_cargo build -p app --no-default-features --features "$board" \
        --bin "$(csky_bin_name "$board")" --quiet
}
