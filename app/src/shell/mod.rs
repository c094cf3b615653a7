//! The UART shell: prompt `W800: `, line editing, and dispatch through the command table.

pub mod command;
pub mod editor;

use crate::config::{CONSOLE_POLL_MS, LINE_MAX, SHELL_PRIORITY, SHELL_STACK_WORDS};
use crate::services::Services;
use bsp::hal::ConsoleRead;
use command::{Command, CommandError, Context};
use core::fmt::Write;
use core::time::Duration;
use editor::{Edit, LineEditor};

/// The vendor shell's prompt (`CONFIG_CHIP_NAME ": "`).
pub const PROMPT: &str = "W800: ";

/// Starts the shell task, with the commands of `table`.
pub fn spawn(services: &'static Services, table: &'static [Command]) -> Result<(), kernel::Error> {
    kernel::spawn("shell", SHELL_STACK_WORDS, SHELL_PRIORITY, move || {
        run(services, table)
    })
}

fn run(services: &'static Services, table: &'static [Command]) {
    let platform = services.platform;
    let mut out = platform.out();
    let mut editor = LineEditor::<LINE_MAX>::new();
    let _ = write!(out, "\n{PROMPT}");
    loop {
        let read = platform.console.lock().read();
        match read {
            ConsoleRead::Byte(byte) => match editor.feed(byte) {
                Edit::None => {}
                Edit::Echo(b) => platform.console.lock().write(&[b]),
                Edit::Erase(n) => {
                    for _ in 0..n {
                        platform.console.lock().write(b"\x08 \x08");
                    }
                }
                Edit::Line => {
                    let _ = out.write_str("\n");
                    execute(
                        table,
                        &mut Context {
                            out: &mut out,
                            platform,
                            services,
                        },
                        editor.line(),
                    );
                    editor.clear();
                    let _ = write!(out, "{PROMPT}");
                }
                Edit::TooLong => {
                    let _ = write!(
                        out,
                        "\nerror: line too long (at most {LINE_MAX} characters)\n{PROMPT}"
                    );
                }
            },
            ConsoleRead::Empty => kernel::delay(Duration::from_millis(CONSOLE_POLL_MS)),
            ConsoleRead::Closed => {
                log::info!(target: "shell", "console input ended, powering off");
                platform.reset.power_off(0);
            }
        }
    }
}

/// Runs one command line against `table`, printing errors, usage and hints to `ctx.out`.
pub fn execute(table: &[Command], ctx: &mut Context<'_>, line: &str) {
    let words = match command::split(line) {
        Ok(words) => words,
        Err(e) => {
            let _ = writeln!(ctx.out, "error: {e}");
            return;
        }
    };
    let Some((name, args)) = words.split_first() else {
        return;
    };
    let Some(cmd) = command::find(table, name) else {
        let _ = match command::suggest(table, name) {
            Some(near) => writeln!(
                ctx.out,
                "unknown command '{name}': did you mean '{}'? (type 'help')",
                near.name
            ),
            None => writeln!(
                ctx.out,
                "unknown command '{name}': type 'help' for the list"
            ),
        };
        return;
    };
    let _ = match (cmd.run)(ctx, args) {
        Ok(()) => Ok(()),
        Err(CommandError::Usage) => writeln!(ctx.out, "usage: {} {}", cmd.name, cmd.usage),
        Err(CommandError::Failed(why)) => writeln!(ctx.out, "error: {}: {why}", cmd.name),
    };
}
