//! What the application needs from a board, behind the `bsp` traits.

use alloc::boxed::Box;
use bsp::hal::{Clock, Console, Entropy, Flash, Reset};
use kernel::Mutex;

/// The board's drivers, shared by every task for the life of the firmware.
pub struct Platform {
    /// The board's name, for the banner and `version`.
    pub board: &'static str,
    pub console: &'static Mutex<dyn Console>,
    pub flash: &'static Mutex<dyn Flash>,
    pub reset: &'static dyn Reset,
    pub clock: &'static dyn Clock,
    pub entropy: &'static Mutex<dyn Entropy>,
}

impl Platform {
    /// Takes a board's drivers for the rest of the run.
    pub fn new(
        board: &'static str,
        console: impl Console + 'static,
        flash: impl Flash + 'static,
        reset: impl Reset + 'static,
        clock: impl Clock + 'static,
        entropy: impl Entropy + 'static,
    ) -> Result<&'static Platform, kernel::Error> {
        let console: &'static Mutex<dyn Console> = Box::leak(Box::new(Mutex::new(console)?));
        let flash: &'static Mutex<dyn Flash> = Box::leak(Box::new(Mutex::new(flash)?));
        let entropy: &'static Mutex<dyn Entropy> = Box::leak(Box::new(Mutex::new(entropy)?));
        Ok(Box::leak(Box::new(Platform {
            board,
            console,
            flash,
            reset: Box::leak(Box::new(reset)),
            clock: Box::leak(Box::new(clock)),
            entropy,
        })))
    }

    /// A `core::fmt::Write` onto the console.
    pub fn out(&self) -> ConsoleWriter {
        ConsoleWriter {
            console: self.console,
        }
    }
}

/// Writes formatted text to the console, one lock per write.
pub struct ConsoleWriter {
    console: &'static Mutex<dyn Console>,
}

impl core::fmt::Write for ConsoleWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.console.lock().write(s.as_bytes());
        Ok(())
    }
}
