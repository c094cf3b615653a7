//! Boot: the banner (the running code's version, and whether `app` holds it), then the tasks.

use crate::config::INIT_STACK_WORDS;
use crate::platform::Platform;
use crate::services::Services;
use crate::{commands, layout, logger, ota, shell, VERSION};
use core::fmt::Write;

/// Starts the kernel with the firmware on `platform`. Never returns.
pub fn boot(platform: &'static Platform) -> ! {
    kernel::start(INIT_STACK_WORDS, move || init(platform))
}

/// The banner's inner width, between "| " and " |".
const BOX_INNER: usize = 47;
const BOX_RULE: &str = "+-------------------------------------------------+";

/// One boxed step of the boot banner.
fn step(out: &mut impl Write, what: &str, ok: bool) {
    let verdict = if ok { "[  OK  ]" } else { "[ FAIL ]" };
    let _ = writeln!(
        out,
        "| {what:<width$}{verdict} |",
        width = BOX_INNER - verdict.len()
    );
}

fn init(platform: &'static Platform) {
    logger::init(platform);
    // What a bootloader would do before the app: an image staged in app_ota goes into app
    // (where the firmware installs); an image on trial gets its self-test's deadline.
    let image = ota::boot_stage(platform);
    let mut out = platform.out();
    let mut title = heapless::String::<BOX_INNER>::new();
    let _ = write!(
        title,
        "W800 AWS OTA firmware {VERSION} (board {})",
        platform.board
    );
    let _ = writeln!(out, "\n{BOX_RULE}\n| {title:<BOX_INNER$} |\n{BOX_RULE}");
    step(&mut out, "kernel FreeRTOS started", true);
    let table = layout::partition_table(platform);
    step(&mut out, "partition table at 0xE000", table.is_ok());
    let header = layout::app_header(platform);
    step(&mut out, "app image header", header.is_ok());
    let running = header
        .as_ref()
        .map_err(Clone::clone)
        .and_then(layout::check_running_version);
    match image {
        ota::RunningImage::App => step(
            &mut out,
            "app version is the running version",
            running.is_ok(),
        ),
        ota::RunningImage::Trial => step(&mut out, "running on trial from app_ota", true),
    }
    let shell =
        Services::new(platform).and_then(|services| shell::spawn(services, commands::TABLE));
    step(&mut out, "shell task", shell.is_ok());
    let _ = writeln!(out, "{BOX_RULE}");

    let reason = platform.reset.last_reason();
    let heap = kernel::heap_stats();
    let flash = platform.flash.lock().geometry();
    log::info!(target: "boot", "boot reason {reason}");
    log::info!(
        target: "boot",
        "heap size {}({}.{:02}KB)",
        heap.free,
        heap.free / 1024,
        heap.free % 1024 * 100 / 1024
    );
    log::info!(target: "boot", "flash size 0x{:X}({}MB)", flash.size, flash.size >> 20);
    match header {
        Ok(h) => {
            log::info!(target: "boot", "app image ver {} upd_no {}", h.version.as_str(), h.upd_no);
            match (image, running) {
                (ota::RunningImage::Trial, _) => log::info!(
                    target: "boot",
                    "{VERSION} runs on trial; app keeps {} until the cloud accepts it",
                    h.version.as_str()
                ),
                (ota::RunningImage::App, Err(e)) => log::error!(target: "boot", "{e}"),
                (ota::RunningImage::App, Ok(())) => {}
            }
        }
        Err(e) => log::error!(target: "boot", "{e}"),
    }
    if let Err(e) = table {
        log::error!(target: "boot", "{e}");
    }
    if let Err(e) = shell {
        log::error!(target: "boot", "cannot start the shell: {e}");
    }
}
