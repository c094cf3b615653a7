//! The sim board's firmware binary: wires the sim drivers to the application.

use app::platform::OtaSupport;
use bsp::board::sim::{SimBoard, SimOptions};

#[global_allocator]
static HEAP: kernel::Heap = kernel::Heap;

fn main() {
    let board = SimOptions::parse(std::env::args_os().collect())
        .and_then(|options| SimBoard::new(options, app::VERSION))
        .unwrap_or_else(|e| {
            eprintln!("w800-sim: {e}");
            std::process::exit(2)
        });
    let ota = OtaSupport {
        code_signing: board.code_signing.or(OtaSupport::BOOT_STAGE.code_signing),
        settings: board
            .ota_settings
            .unwrap_or(OtaSupport::BOOT_STAGE.settings),
        ..OtaSupport::BOOT_STAGE
    };
    let platform = app::Platform::new_with_wifi(
        "sim",
        ota,
        board.console,
        board.flash,
        board.reset,
        board.clock,
        board.entropy,
        board.wifi,
        board.credentials.or(app::platform::BUILT_IN_CREDENTIALS),
    )
    .unwrap_or_else(|e| {
        eprintln!("w800-sim: {e}");
        std::process::exit(2)
    });
    app::boot(platform)
}
