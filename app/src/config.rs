//! Sizes and priorities, in one place. Stack sizes are in 32-bit words.

use kernel::Priority;

/// The longest command line the shell takes, in bytes (the vendor shell's default is 64; Wi-Fi
/// credentials and OTA commands need more).
pub const LINE_MAX: usize = 256;
/// The most words a command line may have, the command included.
pub const ARGS_MAX: usize = 10;
/// The most bytes `flash read` dumps at once.
pub const FLASH_READ_MAX: u32 = 4096;
/// The most bytes `flash write` programs at once (one page).
pub const FLASH_WRITE_MAX: usize = 256;
/// Flash below this offset holds the factory-test parameters: the vendor driver refuses to
/// write there (w800-platform.md section 1.4) and so does the shell.
pub const FLASH_PROTECTED_END: u32 = 0x2000;
/// The longest log line; longer messages are cut.
pub const LOG_LINE_MAX: usize = 256;

/// The init task: prints the banner and starts the others.
pub const INIT_STACK_WORDS: u16 = 2048;
/// The shell task (the vendor CLI task has 4096 bytes; ours formats more).
pub const SHELL_STACK_WORDS: u16 = 2048;
pub const SHELL_PRIORITY: Priority = 5;
/// How long the shell sleeps when the console has nothing, in milliseconds.
pub const CONSOLE_POLL_MS: u64 = 10;
