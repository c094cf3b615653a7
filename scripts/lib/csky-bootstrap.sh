#!/usr/bin/env bash
# Bootstraps the C-SKY cross toolchain from Debian 12's source packages into PREFIX:
# binutils 2.40, GCC 12.2 (C) and newlib 3.3.0 for the W800's ck804ef, hard-float ABI,
# little-endian, one library set. About 8 minutes on 2 cores (GCC is 6 of them).
#   bash scripts/lib/csky-bootstrap.sh PREFIX
# ensure_csky_toolchain (csky.sh) runs it when there is no prebuilt toolchain. The scratch
# tree is $W800_CACHE/csky-bootstrap; each step's log is kept in its logs/.
#
# Stock GCC 12 and newlib 3.3 need four changes for this target
# (docs/toolchain.md, "C-SKY GCC from Debian sources", explains each):
#  1. GCC knows no ck804: the ck804 cores are added, generating ck803's 3E3r1 ISA, a subset.
#  2. GCC treats fr8-fr15 as call-clobbered, rustc (LLVM) and the vendor compiler as
#     callee-saved: GCC is kept off them, so C never clobbers what Rust keeps there.
#  3. GCC does not hand -mfloat-abi / -medsp to the assembler, whose objects then lack the
#     DSP and float-ABI attributes that rustc's carry, and ld refuses to mix them.
#  4. newlib has no csky host: it gets one (generic C), its endianness, and setjmp/longjmp.
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/csky.sh"

prefix="${1:?usage: csky-bootstrap.sh PREFIX}"
work="$W800_CACHE/csky-bootstrap"
jobs="$(nproc)"
target=csky-elf
export PATH="$prefix/bin:$PATH"

# Runs a step with its output in logs/NAME.log, reporting progress every 30 s.
step() {
    local name=$1
    shift
    local log="$work/logs/$name.log" start=$SECONDS
    say "$name ..."
    "$@" >"$log" 2>&1 &
    local pid=$!
    while ! wait_for "$pid" 30; do
        say "$name: $((SECONDS - start)) s, $(wc -l <"$log") lines of output so far"
    done
    if ! wait "$pid"; then
        tail -n 25 "$log" >&2
        die "$name failed (log: $log)"
    fi
    say "$name: done in $((SECONDS - start)) s"
}

# Whether process $1 ended within $2 seconds.
wait_for() {
    local pid=$1 left=$2
    while [ "$left" -gt 0 ]; do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 1
        left=$((left - 1))
    done
    ! kill -0 "$pid" 2>/dev/null
}

# Inserts the text on stdin before (or after) the first line matching the regex $2 in $1.
insert_at() {
    local file=$1 anchor=$2 where=${3:-before} text
    text="$(cat)"
    TEXT="$text" ANCHOR="$anchor" awk -v where="$where" '
        !done && $0 ~ ENVIRON["ANCHOR"] {
            if (where == "after") print
            print ENVIRON["TEXT"]
            if (where == "before") print
            done = 1
            next
        }
        { print }
        END { exit !done }' "$file" >"$file.new" || die "no line matching '$anchor' in $file"
    mv "$file.new" "$file"
}

patch_gcc() {
    local gcc=$1 csky=$1/gcc/config/csky
    # Debian's DFSG tarball lacks the GFDL documentation genhooks needs; Debian's own patch
    # restores what the build uses.
    patch -d "$gcc" -p2 -s </usr/src/gcc-12/debian/patches/gcc-gfdl-build.diff

    # 1. The ck804 family, with ck803's code generation, among the cores.
    local core entries=""
    for core in ck804 ck804h ck804t ck804ht ck804f ck804fh ck804e ck804eh ck804et ck804eht \
        ck804ef ck804efh ck804ft ck804eft ck804efht; do
        entries+="CSKY_CORE (\"$core\", $core, $core, CK803, CSKY_ISA_FEAT (isa_bit_3E3r1))"$'\n'
    done
    printf '%s\n%s' "/* ck804 (the XT804 of the W800): ck803 code generation, a subset of its ISA.  */" \
        "$entries" | insert_at "$csky/csky_cores.def" '^/\* ck803s Architecture Processors'
    sh "$csky/csky_genopt.sh" "$csky" >"$csky/csky_tables.opt"

    # 2. fr8-fr15 never allocated: the last statements of csky_conditional_register_usage.
    awk '
        /^csky_conditional_register_usage/ { inside = 1 }
        inside && /^}/ {
            print "  /* fr8-fr15 are callee-saved for LLVM and the vendor compiler; this port would"
            print "     not save them, so it must not use them.  */"
            print "  for (int regno = CSKY_FIRST_VFP_REGNUM + 8;"
            print "       regno <= CSKY_FIRST_VFP_REGNUM + 15; regno++)"
            print "    {"
            print "      fixed_regs[regno] = 1;"
            print "      call_used_regs[regno] = 1;"
            print "    }"
            inside = 0
        }
        { print }' "$csky/csky.cc" >"$csky/csky.cc.new"
    mv "$csky/csky.cc.new" "$csky/csky.cc"
    grep -q 'CSKY_FIRST_VFP_REGNUM + 15' "$csky/csky.cc" || die "csky.cc: the fr8-fr15 change did not apply"

    # 3. The float ABI and the DSP extension passed on to the assembler.
    printf '  %%{mfloat-abi=*:-mfloat-abi=%%*} %%{mcpu=ck804e*:-medsp} \\\n' |
        insert_at "$csky/csky-elf.h" '%\{mfloat-abi=hard:-mhard-float\}' after
}

patch_newlib() {
    local newlib=$1/newlib
    printf '  csky*)\n\t;;\n' | insert_at "$newlib/configure.host" '^  cris \| crisv32\)'
    printf '#ifdef __CSKY__\n#ifdef __CSKYBE__\n#define __IEEE_BIG_ENDIAN\n#else\n#define __IEEE_LITTLE_ENDIAN\n#endif\n#endif\n' |
        insert_at "$newlib/libc/include/machine/ieeefp.h" '^#ifdef __CYGWIN__'
    # jmp_buf: r4-r11, sp, lr, r16, r17, gb, fr8-fr15 (setjmp.S below), with room to spare.
    printf '#ifdef __CSKY__\n#define _JBLEN 24\n#endif\n' |
        insert_at "$newlib/libc/include/machine/setjmp.h" '^_BEGIN_STD_C' after
}

# setjmp/longjmp for ABIv2: the callee-saved registers, and fr8-fr15 with the FPU.
write_setjmp() {
    cat >"$1" <<'ASM'
    .text
    .align  2
    .global setjmp
    .type   setjmp, @function
setjmp:
    stm     r4-r11, (r0)
    stw     sp, (r0, 32)
    stw     r15, (r0, 36)
    stw     r16, (r0, 40)
    stw     r17, (r0, 44)
    stw     r28, (r0, 48)
#ifdef __csky_hard_float__
    addi    r1, r0, 52
    fstms   fr8-fr15, (r1)
#endif
    movi    r0, 0
    rts
    .size   setjmp, . - setjmp

    .align  2
    .global longjmp
    .type   longjmp, @function
longjmp:
#ifdef __csky_hard_float__
    addi    r2, r0, 52
    fldms   fr8-fr15, (r2)
#endif
    ldw     r28, (r0, 48)
    ldw     r17, (r0, 44)
    ldw     r16, (r0, 40)
    ldw     r15, (r0, 36)
    ldw     sp, (r0, 32)
    ldm     r4-r11, (r0)
    /* setjmp returns the value given, or 1 for 0. */
    mov     r0, r1
    cmpnei  r0, 0
    bt      1f
    movi    r0, 1
1:  rts
    .size   longjmp, . - longjmp
ASM
}

started=$SECONDS
ensure_apt build-essential bison flex texinfo m4 xz-utils libgmp-dev libmpfr-dev libmpc-dev \
    libisl-dev zlib1g-dev libzstd-dev binutils-source gcc-12-source newlib-source
rm -rf "$work"
mkdir -p "$work/src" "$work/logs" "$work/build/binutils" "$work/build/gcc" "$work/build/newlib"
cd "$work/src"
step unpack bash -c 'tar -xf /usr/src/binutils/binutils-2.40.tar.xz &&
    tar -xf /usr/src/gcc-12/gcc-12.2.0-dfsg.tar.xz && tar -xf /usr/src/newlib/newlib-3.3.0.tar.xz'
patch_gcc "$work/src/gcc-12.2.0"
patch_newlib "$work/src/newlib-salsa"

cd "$work/build/binutils"
step binutils-configure "$work/src/binutils-2.40/configure" --target=$target --prefix="$prefix" \
    --disable-nls --disable-werror --disable-gdb --disable-sim --disable-gprofng --disable-gold \
    --with-system-zlib --enable-deterministic-archives --disable-warn-execstack \
    --disable-warn-rwx-segments
step binutils-build make -j"$jobs"
step binutils-install make install-strip

cd "$work/build/gcc"
step gcc-configure "$work/src/gcc-12.2.0/configure" --target=$target --prefix="$prefix" \
    --enable-languages=c --disable-nls --without-headers --with-newlib --disable-multilib \
    --with-cpu=ck804ef --with-float=hard --with-endian=little --disable-shared \
    --disable-threads --disable-libssp --disable-libgomp --disable-libquadmath \
    --disable-libatomic --disable-decimal-float --disable-lto --with-system-zlib \
    --with-gnu-as --with-gnu-ld CFLAGS_FOR_TARGET="-O2 -ffunction-sections -fdata-sections"
step gcc-build make -j"$jobs" all-gcc
step libgcc-build make -j"$jobs" all-target-libgcc
step gcc-install make install-strip-gcc install-target-libgcc

cd "$work/build/newlib"
step newlib-configure "$work/src/newlib-salsa/configure" --target=$target --prefix="$prefix" \
    --disable-nls --disable-newlib-supplied-syscalls --enable-newlib-reent-small \
    --enable-newlib-retargetable-locking --enable-newlib-io-long-long \
    --enable-newlib-io-c99-formats CFLAGS_FOR_TARGET="-Os -ffunction-sections -fdata-sections"
step newlib-build make -j"$jobs"
step newlib-install make install

# GCC was configured without headers, so its limits.h does not reach newlib's: rebuild it as
# a GCC that saw the headers would have.
gcc_src="$work/src/gcc-12.2.0/gcc"
cat "$gcc_src/limitx.h" "$gcc_src/glimits.h" "$gcc_src/limity.h" \
    >"$prefix/lib/gcc/$target/12.2.0/include-fixed/limits.h"
write_setjmp "$work/build/setjmp.S"
"$target-gcc" -O2 -c "$work/build/setjmp.S" -o "$work/build/setjmp.o"
"$target-ar" rs "$prefix/$target/lib/libc.a" "$work/build/setjmp.o"
rm -rf "$prefix/share/info" "$prefix/share/man"

say "C-SKY toolchain in $prefix ($(du -sh "$prefix" | cut -f1)) after $((SECONDS - started)) s"
