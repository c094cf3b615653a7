//! The W800 board's firmware binary: wires the board's drivers to the application.
#![no_std]
#![no_main]

use bsp::board::w800::W800Board;

#[global_allocator]
static HEAP: kernel::Heap = kernel::Heap;

bsp::xt804_entry!(main);

fn main() -> ! {
    let board = W800Board::take();
    let platform = app::Platform::with_secure_entropy(
        "w800",
        app::platform::OtaSupport::BOOTLOADER,
        board.console,
        board.flash,
        board.reset,
        board.clock,
        board.entropy,
    )
    .unwrap_or_else(|e| panic!("cannot set the platform up: {e}"));
    app::boot(platform)
}
