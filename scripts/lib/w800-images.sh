# The W800's images, made from the firmware's ELF. Sourced by scripts/build.

# Writes the raw binary for the app partition beside `elf` and prints what it made.
package_w800_images() {
    local elf=$1
    "${CSKY_PREFIX}objcopy" -O binary "$elf" "$elf.bin"
    echo "w800 app binary (for the app partition, run address 0x0800F400): $elf.bin"
}
