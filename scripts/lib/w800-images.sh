# The W800's images, made from the firmware's ELF. Sourced by scripts/build (after common.sh and
# csky.sh), not run.
#
# package_w800_images ELF writes beside the ELF, named as the SDK's build names them:
#   ELF.bin      the app binary: .text, .rodata, .data back to back from the run address
#   ELF.img      the app image: a 64-byte header for `app` (0x0800F000) + the binary
#   ELF_ota.img  the OTA file: a new header + the xz stream of the whole .img
#   ELF.fls      the .img and the partition table's image, for the vendor's flashing tools and
#                scripts/flash
# w800-tool makes each and checks it (`inspect`); w800_check_images then checks all of them
# again without w800-tool: headers read with od, checksums with gzip's CRC-32, the xz stream
# with xz, the table's MD5 with md5sum, the binary against objcopy (docs/flashing.md, "The
# images" and "Checking the images").

# The with_ota partition table the firmware is linked for (docs/w800.md, "Partition table" and
# "Image files"): header and run addresses, sizes.
W800_APP_HEADER=$((0x0800F000))
W800_APP_RUN=$((0x0800F400))
W800_APP_SIZE=$((0x122000))
W800_APP_OTA=$((0x08131000))
W800_APP_OTA_SIZE=$((0xAF000))
# The firmware keeps its update record in app_ota's last sector, so a file may use the rest.
W800_OTA_FILE_CAPACITY=$((W800_APP_OTA_SIZE - 0x1000))
W800_TABLE_RUN=$((0x0800E000))
W800_TABLE_HEADER=$((0x20026000))
W800_HEADER_AREA=$((0x400))
W800_IMAGE_MAGIC=$((0xA0FFFF9F))
W800_TABLE_MAGIC=$((0xA1F2F39F))

# The little-endian u32 at byte $2 of file $1, in decimal.
w800_u32() {
    od -An -tu4 -j "$2" -N4 --endian=little "$1" | tr -d ' '
}

# $3 bytes at byte $2 of file $1 (one process, so no pipe is cut short under pipefail).
w800_bytes() {
    dd if="$1" bs=64K iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none
}

# The bytes $2..$2+$3 of file $1 as one hex string.
w800_hex() {
    w800_bytes "$1" "$2" "$3" | od -An -tx1 -v | tr -d ' \n'
}

# The JAMCRC (CRC-32 without the final inversion) of $3 bytes at byte $2 of file $1, in decimal:
# gzip's trailer starts with the CRC-32 of the data (RFC 1952).
w800_jamcrc() {
    local crc
    crc=$(w800_bytes "$1" "$2" "$3" | gzip -c | tail -c 8 | od -An -tu4 -N4 --endian=little | tr -d ' ')
    echo $((crc ^ 0xFFFFFFFF))
}

# Checks the image header at byte $2 of file $1: magic, header checksum, img_attr $3, run address
# $4, header address $5, upgrade address $6, body inside the file with its checksum. Prints the
# offset after the body.
w800_check_header() {
    local file=$1 at=$2 attr=$3 run=$4 header=$5 upgrade=$6 size len
    size=$(stat -c %s "$file")
    [ $((at + 64)) -le "$size" ] || { say "$file: no header at $at"; return 1; }
    local -a names=(magic_no img_attr img_addr img_header_addr upgrade_img_addr)
    local -a offsets=(0 4 8 16 20)
    local -a wanted=("$W800_IMAGE_MAGIC" "$attr" "$run" "$header" "$upgrade")
    local i value
    for i in "${!names[@]}"; do
        value=$(w800_u32 "$file" $((at + offsets[i])))
        [ "$value" -eq "${wanted[i]}" ] || {
            say "$file: image at $at: ${names[i]} is $(printf 0x%08x "$value"), expected $(printf 0x%08x "${wanted[i]}")"
            return 1
        }
    done
    [ "$(w800_u32 "$file" $((at + 60)))" -eq "$(w800_jamcrc "$file" "$at" 60)" ] ||
        { say "$file: image at $at: header checksum mismatch"; return 1; }
    len=$(w800_u32 "$file" $((at + 12)))
    [ $((len % 4)) -eq 0 ] && [ $((at + 64 + len)) -le "$size" ] ||
        { say "$file: image at $at: img_len $len does not fit the file"; return 1; }
    [ "$(w800_u32 "$file" $((at + 24)))" -eq "$(w800_jamcrc "$file" $((at + 64)) "$len")" ] ||
        { say "$file: image at $at: body checksum mismatch"; return 1; }
    echo $((at + 64 + len))
}

# Checks the images package_w800_images made from $1 (the ELF) without w800-tool. $2 is an
# objcopy that reads 32-bit little-endian ELF files.
w800_check_images() (
    local elf=$1 objcopy=$2
    local bin="$elf.bin" img="$elf.img" ota="${elf}_ota.img" fls="$elf.fls"
    local tmp end bin_size img_size ota_size fls_size
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT

    # The binary: objcopy's copy of the three sections, by load address; the vector table's
    # reset vector (first word) is the ELF's entry point (e_entry, byte 24).
    "$objcopy" -I elf32-little -O binary -j .text -j .rodata -j .data "$elf" "$tmp/sections.bin"
    cmp -s "$tmp/sections.bin" "$bin" || { say "$bin differs from objcopy's .text/.rodata/.data"; return 1; }
    [ "$(w800_u32 "$bin" 0)" -eq "$(w800_u32 "$elf" 24)" ] ||
        { say "$bin: the first word is not the ELF's entry point"; return 1; }
    bin_size=$(stat -c %s "$bin")
    [ "$bin_size" -le $((W800_APP_SIZE - W800_HEADER_AREA)) ] ||
        { say "$bin: $bin_size bytes do not fit app"; return 1; }

    # The .img: one user image for app, the binary padded with 0xFF to 4 bytes.
    img_size=$(stat -c %s "$img")
    end=$(w800_check_header "$img" 0 1 "$W800_APP_RUN" "$W800_APP_HEADER" "$W800_APP_OTA") || return 1
    [ "$end" -eq "$img_size" ] || { say "$img: bytes after the image"; return 1; }
    w800_bytes "$img" 64 "$bin_size" | cmp -s - "$bin" || { say "$img: body is not $bin"; return 1; }
    [ "$(w800_hex "$img" $((64 + bin_size)) 4 | tr -d f)" = "" ] ||
        { say "$img: padding is not 0xFF"; return 1; }

    # The _ota.img: an xz user image (img_attr 0x00100001) whose stream, CRC32-checked with a
    # 32 KiB dictionary, unpacks to the .img, and which fits app_ota less the record sector.
    ota_size=$(stat -c %s "$ota")
    end=$(w800_check_header "$ota" 0 $((0x00100001)) "$W800_APP_RUN" "$W800_APP_HEADER" "$W800_APP_OTA") || return 1
    [ "$end" -eq "$ota_size" ] || { say "$ota: bytes after the image"; return 1; }
    [ "$ota_size" -le "$W800_OTA_FILE_CAPACITY" ] ||
        { say "$ota: $ota_size bytes do not fit app_ota ($W800_OTA_FILE_CAPACITY)"; return 1; }
    # The stream ends with the footer magic "YZ"; what follows is 0xFF padding.
    local stream_size=$((ota_size - 64)) tail_hex listing
    tail_hex=$(w800_hex "$ota" $((ota_size - 3)) 3)
    while [ "${tail_hex: -2}" = ff ]; do
        tail_hex=${tail_hex%ff}
        stream_size=$((stream_size - 1))
    done
    w800_bytes "$ota" 64 "$stream_size" > "$tmp/stream.xz"
    listing=$(xz --robot --list -vv "$tmp/stream.xz") || { say "$ota: not an xz stream"; return 1; }
    [ "$(grep -c $'^stream\t' <<<"$listing")" -eq 1 ] &&
        grep -q $'^stream\t1\t.*\tCRC32\t' <<<"$listing" ||
        { say "$ota: the xz body is not one stream with a CRC32 check"; return 1; }
    ! grep $'^block\t' <<<"$listing" | grep -v -- '--lzma2=dict=32KiB$' >/dev/null ||
        { say "$ota: an xz block is not LZMA2 with a 32 KiB dictionary"; return 1; }
    xz --format=xz -dc "$tmp/stream.xz" > "$tmp/inner.img" && cmp -s "$tmp/inner.img" "$img" ||
        { say "$ota: does not unpack to $img"; return 1; }

    # The .fls: the .img, then the partition table's image (type 2, header 0x20026000, run
    # 0x0800E000, upgrade 0) whose 1 KiB body is the with_ota table with its MD5.
    fls_size=$(stat -c %s "$fls")
    cmp -s -n "$img_size" "$img" "$fls" || { say "$fls: does not start with $img"; return 1; }
    end=$(w800_check_header "$fls" "$img_size" 2 "$W800_TABLE_RUN" "$W800_TABLE_HEADER" 0) || return 1
    [ "$end" -eq "$fls_size" ] && [ $((fls_size - img_size)) -eq $((64 + 1024)) ] ||
        { say "$fls: the table image is not 64 + 1024 bytes at the end"; return 1; }
    local table=$((img_size + 64)) count
    [ "$(w800_u32 "$fls" "$table")" -eq "$W800_TABLE_MAGIC" ] || { say "$fls: bad table magic"; return 1; }
    count=$(od -An -tu2 -j $((table + 6)) -N2 --endian=little "$fls" | tr -d ' ')
    local table_len=$((12 + 28 * count))
    [ "$(w800_bytes "$fls" "$table" "$table_len" | md5sum | cut -d' ' -f1)" = \
        "$(w800_hex "$fls" $((table + table_len)) 16)" ] ||
        { say "$fls: partition table MD5 mismatch"; return 1; }
    local entries="" i at
    for ((i = 0; i < count; i++)); do
        at=$((table + 12 + 28 * i))
        entries+="$(w800_bytes "$fls" "$at" 16 | tr -d '\000'):$(printf %x "$(w800_u32 "$fls" $((at + 16)))"):$(printf %x "$(w800_u32 "$fls" $((at + 20)))") "
    done
    [ "$entries" = "ft:0:2000 bootloader:2000:c000 partition_table:e000:1000 app:f000:122000 app_ota:131000:af000 user:1e0000:2000 nvs:1f0000:8000 " ] ||
        { say "$fls: the table is not with_ota: $entries"; return 1; }
)

# Makes and checks the images of the firmware ELF $1 and prints where they are.
package_w800_images() {
    local elf=$1 version tool
    version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)"
    (cd "$ROOT" && cargo build --quiet --release -p w800-tool)
    tool="${CARGO_TARGET_DIR:-$ROOT/target}/$SIM_TARGET/release/w800-tool"
    "$tool" elf2bin --input "$elf" --output "$elf.bin" >/dev/null
    "$tool" pack --input "$elf.bin" --output "$elf.img" --version "$version" >/dev/null
    "$tool" pack --ota --input "$elf.img" --output "${elf}_ota.img" >/dev/null
    "$tool" pack --fls --input "$elf.img" --output "$elf.fls" >/dev/null
    local file
    for file in "$elf.img" "${elf}_ota.img" "$elf.fls"; do
        "$tool" inspect "$file" >/dev/null || die "w800-tool inspect refuses $file"
    done
    w800_check_images "$elf" "${CSKY_PREFIX}objcopy" || die "the images of $elf fail the independent check"
    local bin_size
    bin_size=$(stat -c %s "$elf.bin")
    echo "w800 images (version $version), checked by w800-tool inspect and independently:"
    printf '  %s: %d bytes (app holds %d after its header area)\n' "$elf.bin" "$bin_size" \
        $((W800_APP_SIZE - W800_HEADER_AREA))
    printf '  %s: %d bytes (header at 0x%08X, runs at 0x%08X)\n' "$elf.img" \
        "$(stat -c %s "$elf.img")" "$W800_APP_HEADER" "$W800_APP_RUN"
    printf '  %s: %d bytes (xz; app_ota takes files up to %d)\n' "${elf}_ota.img" \
        "$(stat -c %s "${elf}_ota.img")" "$W800_OTA_FILE_CAPACITY"
    printf '  %s: %d bytes (.img + partition table image: scripts/flash PORT %s)\n' "$elf.fls" \
        "$(stat -c %s "$elf.fls")" "$elf.fls"
}
