//! The QEMU smartl board's firmware binary: wires the board's drivers to the application.
#![no_std]
#![no_main]

use bsp::board::qemu::QemuBoard;

#[global_allocator]
static HEAP: kernel::Heap = kernel::Heap;

bsp::xt804_entry!(main);

fn main() -> ! {
    let board = QemuBoard::take(app::VERSION);
    let platform = app::Platform::with_loopback(
        "qemu",
        app::platform::OtaSupport::BOOT_STAGE,
        board.console,
        board.flash,
        board.reset,
        board.clock,
        board.entropy,
        board.loopback,
    )
    .unwrap_or_else(|e| panic!("cannot set the platform up: {e}"));
    app::boot(platform)
}
