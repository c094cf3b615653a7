//! The `log` backend: `[I] (ms) TAG: text` lines on the console, as the vendor SDK prints them.

use crate::config::LOG_LINE_MAX;
use crate::platform::Platform;
use alloc::boxed::Box;
use core::fmt::Write;
use log::{Level, LevelFilter, Log, Metadata, Record};

struct ConsoleLog {
    platform: &'static Platform,
}

/// The letter the vendor logs start with.
fn level_letter(level: Level) -> char {
    match level {
        Level::Error => 'E',
        Level::Warn => 'W',
        Level::Info => 'I',
        Level::Debug => 'D',
        Level::Trace => 'V',
    }
}

/// Formats one log line into `line`, cutting it (with `...`) if it does not fit.
pub fn format_line<const N: usize>(
    line: &mut heapless::String<N>,
    level: Level,
    ms: u32,
    tag: &str,
    message: &core::fmt::Arguments<'_>,
) {
    line.clear();
    let mut cutter = Cutter {
        line,
        room: N.saturating_sub(1),
        cut: false,
    };
    let _ = write!(cutter, "[{}] ({ms}) {tag}: {message}", level_letter(level));
    if cutter.cut {
        while line.len() + 4 > N {
            line.pop();
        }
        let _ = line.push_str("...");
    }
    let _ = line.push('\n');
}

/// Takes characters while there is room (one byte is kept for the newline), then notes the cut.
struct Cutter<'a, const N: usize> {
    line: &'a mut heapless::String<N>,
    room: usize,
    cut: bool,
}

impl<const N: usize> Write for Cutter<'_, N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for c in s.chars() {
            if self.line.len() + c.len_utf8() > self.room || self.line.push(c).is_err() {
                self.cut = true;
                break;
            }
        }
        Ok(())
    }
}

impl Log for ConsoleLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut line = heapless::String::<LOG_LINE_MAX>::new();
        format_line(
            &mut line,
            record.level(),
            kernel::now_ms(),
            record.target(),
            record.args(),
        );
        self.platform.console.lock().write(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Sends `log` output to the console at Info level. A second call changes nothing.
pub fn init(platform: &'static Platform) {
    if log::set_logger(Box::leak(Box::new(ConsoleLog { platform }))).is_ok() {
        log::set_max_level(LevelFilter::Info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_look_like_the_vendor_log() {
        let mut line = heapless::String::<64>::new();
        format_line(
            &mut line,
            Level::Info,
            1234,
            "boot",
            &format_args!("heap {}", 5),
        );
        assert_eq!(line.as_str(), "[I] (1234) boot: heap 5\n");
        format_line(&mut line, Level::Warn, 0, "ota", &format_args!("x"));
        assert_eq!(line.as_str(), "[W] (0) ota: x\n");
    }

    #[test]
    fn long_lines_are_cut_not_lost() {
        let mut line = heapless::String::<24>::new();
        format_line(
            &mut line,
            Level::Error,
            7,
            "net",
            &format_args!("{}", "a".repeat(100)),
        );
        assert!(line.ends_with("...\n"), "{line:?}");
        assert!(line.starts_with("[E] (7) net: aaa"));
        assert_eq!(line.len(), 24);
    }
}
