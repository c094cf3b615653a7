//! The sim board's firmware binary: wires the sim drivers to the application.

use app::platform::OtaSupport;
use bsp::board::sim::loader::NoteLevel;
use bsp::board::sim::{SimBoard, SimOptions};
use log::Level;

#[global_allocator]
static HEAP: kernel::Heap = kernel::Heap;

/// Prints a line of the sim's loader on the console, in the firmware's log format: it runs
/// before the firmware, so before its logger exists (and at 0 ms of the firmware's clock).
fn loader_line(level: NoteLevel, text: &str) {
    let level = match level {
        NoteLevel::Info => Level::Info,
        NoteLevel::Warn => Level::Warn,
        NoteLevel::Error => Level::Error,
    };
    let mut line = heapless::String::<{ app::config::LOG_LINE_MAX }>::new();
    app::logger::format_line(&mut line, level, 0, "loader", &format_args!("{text}"));
    print!("{line}");
}

fn main() {
    let args: Vec<_> = std::env::args_os().collect();
    if args.len() == 2 && args[1] == "--version" {
        println!("w800-sim {}", app::VERSION);
        return;
    }
    let board = SimOptions::parse(args)
        .and_then(|options| SimBoard::new(options, app::VERSION, &mut loader_line))
        .unwrap_or_else(|e| {
            eprintln!("w800-sim: {e}");
            std::process::exit(2)
        });
    // The sim's loader installs staged images, as the W800's bootloader does.
    let ota = OtaSupport {
        code_signing: board.code_signing.or(OtaSupport::BOOTLOADER.code_signing),
        settings: board
            .ota_settings
            .unwrap_or(OtaSupport::BOOTLOADER.settings),
        ..OtaSupport::BOOTLOADER
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
