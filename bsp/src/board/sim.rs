//! The sim board: the firmware as a Linux process on i686.
//!
//! - Flash is a 2 MB file with the W800 geometry and rules ([`crate::nor`]); a new file gets
//!   the `with_ota` partition table at 0xE000 and, in `app` at 0xF000, the running executable
//!   as a W800 image (or a header without code when the executable does not fit).
//! - Before the firmware starts, the [`loader`] does what the W800's bootloader does: installs
//!   a staged image, checks `app`, and runs the executable `app` holds (docs/sim-boot.md).
//! - The console is stdin/stdout, read one byte at a time without blocking (the FreeRTOS
//!   POSIX port must never see a task blocked in a system call), so that nothing past the
//!   current line is consumed: input left over at a reboot is read by the next run.
//! - A reset re-executes the firmware with the same arguments; the reset reason travels in an
//!   environment variable, as the W800 keeps it in RAM's last word across a soft reset.

pub mod loader;
pub mod wifi;

use crate::hal::{
    Clock, Console, ConsoleRead, Entropy, FlashError, FlashGeometry, Reset, ResetReason,
    SecureEntropy, TlsCredentials,
};
use crate::impair::ImpairConfig;
use crate::nor::{NorStore, SimulatedNor};
use loader::{Executable, FactoryApp, NoteLevel, Report, Start, StartedFrom};
use std::ffi::OsString;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;
use wifi::{AccessPoint, SimWifi, DEFAULT_MAC};

/// The environment variable that carries the reset reason into the next run.
pub const RESET_REASON_ENV: &str = "W800_SIM_RESET_REASON";
/// Cuts the power during the flash write (an erase of 256 bytes or a page program) with this
/// number `N`, counted from 0 in the process image that reads it: the first half of its bytes
/// are written, then the process kills itself (SIGKILL), as a torn write leaves the chip.
/// `B:N` cuts it in the `B`-th process image of this power-on instead (counted from 0; the
/// sim's restarts and the loader replace the image): each image passes `B-1:N` on, and the
/// one that reads `N` removes it. For the fault matrix.
pub const POWER_CUT_ENV: &str = "W800_SIM_POWER_CUT";

/// The write `POWER_CUT_ENV`'s value cuts in this process image, and the value the next image
/// gets; `None` when the value is no cut.
fn power_cut_here(value: &str) -> Option<(Option<u64>, Option<String>)> {
    match value.split_once(':') {
        None => Some((Some(value.parse().ok()?), None)),
        Some((images, write)) => {
            let (images, write) = (images.parse::<u64>().ok()?, write.parse::<u64>().ok()?);
            Some(match images.checked_sub(1) {
                None => (Some(write), None),
                Some(0) => (None, Some(write.to_string())),
                Some(later) => (None, Some(format!("{later}:{write}"))),
            })
        }
    }
}
/// Appends a line per flash write to this file (`<n> erase|program <offset> <len>`, after a
/// `boot` line per process image): where the fault matrix picks its power cuts.
pub const FLASH_TRACE_ENV: &str = "W800_SIM_FLASH_TRACE";

/// The sim's command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimOptions {
    /// The flash file (`--flash FILE`).
    pub flash: PathBuf,
    /// The TAP device the radio talks through (`--tap NAME`), made by `scripts/testnet`.
    pub tap: Option<String>,
    /// The station's MAC address (`--mac 02:..`): sims that share a test network each need
    /// their own, for the bridge and for DHCP.
    pub mac: [u8; 6],
    /// The simulated access points (`--ap SSID:PASSPHRASE`, repeatable; default the seed's).
    pub access_points: Vec<AccessPoint>,
    /// How the radio link is impaired (`--impair SPEC`, see [`ImpairConfig::parse`]).
    pub impairment: ImpairConfig,
    /// The root CA (`--ca FILE`), device certificate (`--cert FILE`) and key (`--key FILE`),
    /// PEM: where the chip would hold them in flash.
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// The certificate OTA files are checked against (`--code-signing FILE`, PEM), instead
    /// of the one built into the firmware.
    pub code_signing: Option<PathBuf>,
    /// The HTTPS server's root CA (`--https-ca FILE`, PEM), when it differs from `--ca`.
    pub https_ca: Option<PathBuf>,
    /// The OTA agent's settings (`--config FILE`: endpoint, port, alpn, thing), instead of
    /// those built into the firmware.
    pub config: Option<PathBuf>,
    /// Every argument, to re-execute with after a reset.
    pub args: Vec<OsString>,
}

impl SimOptions {
    /// The default flash file, relative to the working directory.
    pub const DEFAULT_FLASH: &'static str = "w800-sim-flash.bin";

    /// Parses the options; anything else is an error with the usage.
    pub fn parse(args: Vec<OsString>) -> Result<SimOptions, SimError> {
        let mut options = SimOptions {
            flash: PathBuf::from(Self::DEFAULT_FLASH),
            tap: None,
            mac: DEFAULT_MAC,
            access_points: Vec::new(),
            impairment: ImpairConfig::default(),
            ca: None,
            cert: None,
            key: None,
            code_signing: None,
            https_ca: None,
            config: None,
            args: Vec::new(),
        };
        let mut rest = args.iter().skip(1);
        while let Some(arg) = rest.next() {
            let mut value = || rest.next().and_then(|v| v.to_str()).ok_or(SimError::Usage);
            match arg.to_str() {
                Some("--flash") => options.flash = PathBuf::from(value()?),
                Some("--tap") => options.tap = Some(value()?.to_owned()),
                Some("--mac") => options.mac = wifi::parse_mac(value()?).ok_or(SimError::Usage)?,
                Some("--ap") => options
                    .access_points
                    .push(AccessPoint::parse(value()?).ok_or(SimError::Usage)?),
                Some("--ca") => options.ca = Some(PathBuf::from(value()?)),
                Some("--cert") => options.cert = Some(PathBuf::from(value()?)),
                Some("--key") => options.key = Some(PathBuf::from(value()?)),
                Some("--code-signing") => options.code_signing = Some(PathBuf::from(value()?)),
                Some("--https-ca") => options.https_ca = Some(PathBuf::from(value()?)),
                Some("--config") => options.config = Some(PathBuf::from(value()?)),
                Some("--impair") => {
                    options.impairment = ImpairConfig::parse(value()?)
                        .map_err(|e| SimError::Impairment(e.to_string()))?;
                }
                _ => return Err(SimError::Usage),
            }
        }
        if options.cert.is_some() != options.key.is_some() {
            return Err(SimError::Usage);
        }
        if options.access_points.is_empty() {
            options.access_points.push(AccessPoint::seed_default());
        }
        options.args = args;
        Ok(options)
    }
}

/// Why the sim could not start.
#[derive(Debug)]
pub enum SimError {
    /// Bad command line.
    Usage,
    /// The flash file could not be opened or created.
    FlashFile(PathBuf, io::Error),
    /// The flash file exists with the wrong size.
    FlashSize(PathBuf, u64),
    /// Building the initial flash content failed.
    Format(String),
    /// A bad `--impair` specification.
    Impairment(String),
    /// The TAP device could not be attached.
    Tap(String, io::Error),
    /// A credentials file could not be read.
    Credentials(PathBuf, io::Error),
    /// The running executable could not be found.
    Executable(io::Error),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Usage => write!(
                f,
                "usage: w800-sim --version | [--flash FILE] [--tap NAME] [--mac MAC] [--ap SSID:PASSPHRASE]... [--impair SPEC] \
                 [--ca FILE] [--cert FILE --key FILE] [--code-signing FILE] [--https-ca FILE] [--config FILE]"
            ),
            SimError::Impairment(e) => write!(f, "--impair: {e}"),
            SimError::Tap(name, e) => write!(f, "TAP device {name}: {e}"),
            SimError::Credentials(path, e) => write!(f, "{}: {e}", path.display()),
            SimError::FlashFile(p, e) => write!(f, "flash file {}: {e}", p.display()),
            SimError::FlashSize(p, n) => write!(
                f,
                "flash file {} is {n} bytes, not the W800's {}",
                p.display(),
                FlashGeometry::W800.size
            ),
            SimError::Format(e) => write!(f, "initial flash content: {e}"),
            SimError::Executable(e) => write!(f, "the running executable: {e}"),
        }
    }
}

impl std::error::Error for SimError {}

/// Everything the sim board offers, ready to hand to the application.
pub struct SimBoard {
    pub console: SimConsole,
    pub flash: SimulatedNor<FileStore>,
    pub reset: SimReset,
    pub entropy: SimEntropy,
    pub clock: SimClock,
    pub wifi: SimWifi,
    /// The TLS credentials, when `--ca` was given.
    pub credentials: Option<TlsCredentials>,
    /// The code-signing certificate (PEM with a NUL, as mbedTLS parses it), when
    /// `--code-signing` was given.
    pub code_signing: Option<&'static [u8]>,
    /// The OTA agent's settings text, when `--config` was given.
    pub ota_settings: Option<&'static str>,
}

impl SimBoard {
    /// Sets the process up as the board: signals, the flash file, the loader (which may
    /// replace the process with the executable `app` holds), the console, the reset word.
    /// `firmware_version` is the running executable's; the loader's lines go to `report`.
    pub fn new(
        options: SimOptions,
        firmware_version: &str,
        report: &mut Report<'_>,
    ) -> Result<SimBoard, SimError> {
        reset_signal_state();
        let last = std::env::var(RESET_REASON_ENV)
            .ok()
            .and_then(|v| v.parse::<u8>().ok())
            .map_or(ResetReason::PowerOn, ResetReason::from_byte);
        let started_from = if std::env::var_os(loader::ON_TRIAL_ENV).is_some() {
            StartedFrom::Trial
        } else if std::env::var_os(loader::STARTED_FROM_APP_ENV).is_some() {
            StartedFrom::App
        } else {
            StartedFrom::Elsewhere
        };
        // All are consumed: a power cycle of the sim (a new process) starts without them.
        std::env::remove_var(RESET_REASON_ENV);
        std::env::remove_var(loader::STARTED_FROM_APP_ENV);
        std::env::remove_var(loader::ON_TRIAL_ENV);
        let (power_cut, next_image) = std::env::var(POWER_CUT_ENV)
            .ok()
            .and_then(|value| power_cut_here(&value))
            .unwrap_or((None, None));
        match next_image {
            Some(value) => std::env::set_var(POWER_CUT_ENV, value),
            None => std::env::remove_var(POWER_CUT_ENV),
        }
        let running = Executable::current().map_err(SimError::Executable)?;
        let (mut store, factory) =
            FileStore::open_or_create(&options.flash, firmware_version, &running)?;
        // Counted from here: the factory content of a new flash file is not the device's.
        store.writes = 0;
        store.power_cut = power_cut;
        store.trace = std::env::var_os(FLASH_TRACE_ENV).and_then(|path| {
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()?;
            writeln!(file, "boot").ok()?;
            Some(file)
        });
        if let Some(factory) = factory {
            let level = match factory {
                FactoryApp::Executable { .. } => NoteLevel::Info,
                FactoryApp::TooLarge { .. } => NoteLevel::Warn,
            };
            report(level, &factory.to_string());
        }
        let mut flash = SimulatedNor::new(store, FlashGeometry::W800);
        let state = loader::state_folder(&options.flash);
        let start = loader::boot(
            &mut flash,
            &state,
            &running,
            firmware_version,
            started_from,
            report,
        );
        let exec = match start {
            Start::App(path) => Some((path, StartedFrom::App)),
            Start::Trial(path) => Some((path, StartedFrom::Trial)),
            Start::Running => None,
        };
        if let Some((path, from)) = exec {
            let e = loader::exec_start(&path, from, &options.args, last);
            report(
                NoteLevel::Error,
                &format!(
                    "cannot start {}: {e}: running this executable instead ({firmware_version}), \
                     which is not what app holds",
                    path.display()
                ),
            );
        }
        let wifi = SimWifi::new(
            options.tap.as_deref(),
            options.mac,
            options.access_points.clone(),
            options.impairment,
        )
        .map_err(|e| SimError::Tap(options.tap.clone().unwrap_or_default(), e))?;
        let credentials = load_credentials(&options)?;
        let code_signing = match &options.code_signing {
            Some(path) => {
                let mut pem = read_file(path)?;
                pem.push(0);
                Some(leak(pem))
            }
            None => None,
        };
        let ota_settings = match &options.config {
            Some(path) => Some(&*Box::leak(
                std::fs::read_to_string(path)
                    .map_err(|e| SimError::Credentials(path.clone(), e))?
                    .into_boxed_str(),
            )),
            None => None,
        };
        Ok(SimBoard {
            console: SimConsole::new(),
            flash,
            reset: SimReset {
                last,
                args: options.args,
            },
            entropy: SimEntropy,
            clock: SimClock::new(),
            wifi,
            credentials,
            code_signing,
            ota_settings,
        })
    }
}

/// Reads a credentials file.
fn read_file(path: &PathBuf) -> Result<Vec<u8>, SimError> {
    std::fs::read(path).map_err(|e| SimError::Credentials(path.clone(), e))
}

/// Keeps `bytes` for as long as the process lives, as the chip keeps credentials in flash.
fn leak(bytes: Vec<u8>) -> &'static [u8] {
    Box::leak(bytes.into_boxed_slice())
}

/// Reads the PEM files named by the options; they live as long as the process.
fn load_credentials(options: &SimOptions) -> Result<Option<TlsCredentials>, SimError> {
    let read = |path: &PathBuf| read_file(path).map(leak);
    let Some(ca) = &options.ca else {
        return Ok(None);
    };
    let device = match (&options.cert, &options.key) {
        (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
        _ => None,
    };
    let https_root_ca = match &options.https_ca {
        Some(path) => Some(read(path)?),
        None => None,
    };
    Ok(Some(TlsCredentials {
        root_ca: read(ca)?,
        device,
        https_root_ca,
    }))
}

/// Undoes what a previous run may have left across `exec`: blocked signals, and a pending
/// tick signal that would kill the process before the FreeRTOS port installs its handler.
fn reset_signal_state() {
    // SAFETY: plain signal-state calls with valid arguments, made before any thread exists.
    unsafe {
        libc::signal(libc::SIGALRM, libc::SIG_IGN);
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
}

// ---------------------------------------------------------------------------------------------
// Flash

/// The flash file, read and written in place.
pub struct FileStore {
    file: File,
    /// Writes so far in this process image.
    writes: u64,
    /// The write during which the power goes ([`POWER_CUT_ENV`]).
    power_cut: Option<u64>,
    /// Where each write is noted ([`FLASH_TRACE_ENV`]).
    trace: Option<File>,
}

impl FileStore {
    /// Opens `path`, or creates it as a factory-fresh W800 flash: all 0xFF, the `with_ota`
    /// partition table at 0xE000, and in `app` at 0xF000 the `running` executable as an image
    /// of `firmware_version` (a header without code when it does not fit); then says what
    /// `app` got.
    fn open_or_create(
        path: &Path,
        firmware_version: &str,
        running: &Executable,
    ) -> Result<(FileStore, Option<FactoryApp>), SimError> {
        let size = u64::from(FlashGeometry::W800.size);
        match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => {
                let len = file
                    .metadata()
                    .map_err(|e| SimError::FlashFile(path.into(), e))?
                    .len();
                if len != size {
                    return Err(SimError::FlashSize(path.into(), len));
                }
                Ok((FileStore::new(file), None))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| SimError::FlashFile(path.into(), e))?;
                }
                // Made whole under a temporary name, then renamed: a crash cannot leave a
                // half-made flash file behind.
                let tmp = path.with_extension("new");
                let io_err = |e| SimError::FlashFile(path.into(), e);
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&tmp)
                    .map_err(io_err)?;
                let mut store = FileStore::new(file);
                let app = loader::write_factory_flash(&mut store, firmware_version, running)
                    .map_err(SimError::Format)?;
                store.file.sync_all().map_err(io_err)?;
                std::fs::rename(&tmp, path).map_err(io_err)?;
                Ok((store, Some(app)))
            }
            Err(e) => Err(SimError::FlashFile(path.into(), e)),
        }
    }
}

impl FileStore {
    fn new(file: File) -> FileStore {
        FileStore {
            file,
            writes: 0,
            power_cut: None,
            trace: None,
        }
    }

    /// Notes the write in the trace, and cuts the power if it is the one.
    fn before_write(&mut self, offset: u32, data: &[u8]) {
        let number = self.writes;
        self.writes += 1;
        if let Some(trace) = self.trace.as_mut() {
            let kind = if data.iter().all(|b| *b == 0xFF) {
                "erase"
            } else {
                "program"
            };
            let _ = writeln!(trace, "{number} {kind} 0x{offset:06x} {}", data.len());
        }
        if self.power_cut == Some(number) {
            let half = data.get(..data.len() / 2).unwrap_or_default();
            let _ = self.file.write_all_at(half, u64::from(offset));
            println!("w800-sim: power cut during flash write {number} at 0x{offset:06x}");
            let _ = io::stdout().flush();
            // SAFETY: ends this process at once, as a power cut does; nothing runs after it.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
    }
}

impl NorStore for FileStore {
    fn load(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        self.file
            .read_exact_at(buf, u64::from(offset))
            .map_err(|_| FlashError::Io)
    }

    fn store(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        self.before_write(offset, data);
        self.file
            .write_all_at(data, u64::from(offset))
            .map_err(|_| FlashError::Io)
    }
}

// ---------------------------------------------------------------------------------------------
// Console

/// The terminal settings to put back when the sim stops, if stdin is a terminal.
static SAVED_TERMINAL: OnceLock<libc::termios> = OnceLock::new();

fn restore_terminal() {
    if let Some(saved) = SAVED_TERMINAL.get() {
        // SAFETY: restores settings read from the same descriptor by `SimConsole::new`.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved) };
    }
}

/// stdin/stdout as the UART. On a terminal it runs raw, as a serial line does: the shell
/// echoes and edits; Ctrl-C or Ctrl-D ends the sim.
pub struct SimConsole {
    is_terminal: bool,
}

impl SimConsole {
    fn new() -> SimConsole {
        // SAFETY: termios calls on stdin with a zeroed struct they fill in.
        let is_terminal = unsafe {
            let mut settings: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut settings) == 0 {
                let _ = SAVED_TERMINAL.set(settings);
                let mut raw = settings;
                raw.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG);
                raw.c_cc[libc::VMIN] = 1;
                raw.c_cc[libc::VTIME] = 0;
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw);
                true
            } else {
                false
            }
        };
        SimConsole { is_terminal }
    }
}

impl Console for SimConsole {
    fn write(&mut self, bytes: &[u8]) {
        let mut out = io::stdout().lock();
        // A closed stdout is like an unplugged serial cable: output is lost, nothing fails.
        let _ = out.write_all(bytes).and_then(|()| out.flush());
    }

    fn read(&mut self) -> ConsoleRead {
        let mut ready = libc::pollfd {
            fd: libc::STDIN_FILENO,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout: never blocks the FreeRTOS task.
        let n = unsafe { libc::poll(&mut ready, 1, 0) };
        if n <= 0 {
            return ConsoleRead::Empty;
        }
        let mut byte = [0u8; 1];
        // One byte at a time and straight from the descriptor (std's stdin would buffer ahead),
        // so nothing past what the shell consumed is taken from the input.
        // SAFETY: reads at most one byte into a one-byte buffer.
        let n = unsafe { libc::read(libc::STDIN_FILENO, byte.as_mut_ptr().cast(), 1) };
        match n {
            0 => ConsoleRead::Closed,
            1 if self.is_terminal && (byte[0] == 0x03 || byte[0] == 0x04) => ConsoleRead::Closed,
            1 => ConsoleRead::Byte(byte[0]),
            _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {
                ConsoleRead::Empty
            }
            _ => ConsoleRead::Closed,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reset

/// Reset by re-executing the firmware; power-off by exiting.
pub struct SimReset {
    last: ResetReason,
    args: Vec<OsString>,
}

impl Reset for SimReset {
    fn last_reason(&self) -> ResetReason {
        self.last
    }

    fn reset(&self, reason: ResetReason) -> ! {
        let _ = io::stdout().flush();
        restore_terminal();
        let e = exec(Path::new("/proc/self/exe"), &self.args, reason, &[]);
        // exec failed: the closest thing to a reset left is to stop with an error.
        eprintln!("w800-sim: reset failed: {e}");
        std::process::exit(70)
    }

    fn power_off(&self, status: u8) -> ! {
        let _ = io::stdout().flush();
        restore_terminal();
        std::process::exit(i32::from(status))
    }
}

/// Replaces the process with `program`, run with `args` (the first is its name), the reset
/// reason `reason` (in [`RESET_REASON_ENV`], absent for a power-on) and the `extra` environment
/// variables. Returns only when that fails.
fn exec(
    program: &Path,
    args: &[OsString],
    reason: ResetReason,
    extra: &[(&str, &str)],
) -> io::Error {
    let c_string = |bytes: Vec<u8>| std::ffi::CString::new(bytes).ok();
    let Some(program) = c_string(program.as_os_str().to_owned().into_vec()) else {
        return io::Error::from(io::ErrorKind::InvalidInput);
    };
    let argv: Vec<std::ffi::CString> = args
        .iter()
        .filter_map(|a| c_string(a.clone().into_vec()))
        .collect();
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env: Vec<std::ffi::CString> = extra
        .iter()
        .filter_map(|(name, value)| c_string(format!("{name}={value}").into_bytes()))
        .collect();
    if reason != ResetReason::PowerOn {
        env.extend(c_string(
            format!("{RESET_REASON_ENV}={}", reason as u8).into_bytes(),
        ));
    }
    // SAFETY: stops the tick timer and discards its pending signal so that the new image does
    // not die of SIGALRM before it installs a handler; adds NUL-terminated `NAME=value`
    // strings to the environment, leaked since the environment keeps pointing at them; then
    // replaces the process with NUL-terminated strings that outlive the call.
    unsafe {
        let off: libc::itimerval = std::mem::zeroed();
        libc::setitimer(libc::ITIMER_REAL, &off, std::ptr::null_mut());
        libc::signal(libc::SIGALRM, libc::SIG_IGN);
        for variable in env {
            libc::putenv(variable.into_raw());
        }
        libc::execv(program.as_ptr(), argv_ptrs.as_ptr());
    }
    io::Error::last_os_error()
}

// ---------------------------------------------------------------------------------------------
// Entropy and clock

/// The host's random source.
pub struct SimEntropy;

impl Entropy for SimEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        let filled = File::open("/dev/urandom").and_then(|mut f| f.read_exact(buf));
        if let Err(e) = filled {
            panic!("no entropy source: {e}");
        }
    }
}

/// The kernel's CSPRNG, through /dev/urandom.
impl SecureEntropy for SimEntropy {}

/// A clock that, like the W800's (which has no battery-backed RTC), starts at the epoch at
/// boot and runs from there until SNTP sets it.
pub struct SimClock {
    boot: Instant,
    offset_secs: AtomicI64,
}

impl SimClock {
    fn new() -> SimClock {
        SimClock {
            boot: Instant::now(),
            offset_secs: AtomicI64::new(0),
        }
    }
}

impl Clock for SimClock {
    fn unix_time(&self) -> u64 {
        let up = self.boot.elapsed().as_secs() as i64;
        (up + self.offset_secs.load(Ordering::Relaxed)).max(0) as u64
    }

    fn set_unix_time(&self, secs: u64) {
        let up = self.boot.elapsed().as_secs() as i64;
        self.offset_secs.store(secs as i64 - up, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::image::{self, ImageHeaderRepr};
    use crate::format::ptable::{self, PartitionTableRepr};
    use crate::hal::Flash;

    fn temp_flash(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("w800-sim-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("flash.bin")
    }

    /// A file standing in for the running executable: `len` bytes.
    fn executable(dir: &Path, len: usize) -> Executable {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join("w800-sim");
        let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, bytes).unwrap();
        Executable::at(&path).unwrap()
    }

    #[test]
    fn a_power_cut_goes_to_its_process_image() {
        assert_eq!(power_cut_here("17"), Some((Some(17), None)));
        assert_eq!(power_cut_here("0:17"), Some((Some(17), None)));
        assert_eq!(power_cut_here("1:17"), Some((None, Some("17".to_owned()))));
        assert_eq!(
            power_cut_here("3:17"),
            Some((None, Some("2:17".to_owned())))
        );
        assert_eq!(power_cut_here("x"), None);
        assert_eq!(power_cut_here("1:"), None);
    }

    #[test]
    fn a_new_flash_file_holds_the_partition_table_and_the_running_executable_in_app() {
        let path = temp_flash("fresh");
        let running = executable(path.parent().unwrap(), 1001);
        let (store, factory) = FileStore::open_or_create(&path, "1.2.3", &running).unwrap();
        assert_eq!(
            factory,
            Some(FactoryApp::Executable {
                len: 1004,
                spare: 1_186_816 - 1004
            })
        );
        let mut flash = SimulatedNor::new(store, FlashGeometry::W800);
        let mut sector = vec![0u8; 4096];
        flash.read(ptable::TABLE_OFFSET, &mut sector).unwrap();
        let view = ptable::PartitionTable::new_checked(&sector[..]).unwrap();
        let table = PartitionTableRepr::parse(&view, FlashGeometry::W800.size).unwrap();
        assert_eq!(table, PartitionTableRepr::with_ota());

        let app = table.find(ptable::APP).unwrap();
        let mut header = [0u8; image::HEADER_LEN];
        flash.read(app.offset, &mut header).unwrap();
        let repr = ImageHeaderRepr::parse_bytes(&header).unwrap();
        assert_eq!(repr.version.as_str(), "1.2.3");
        assert_eq!(repr.header_addr, image::FLASH_BASE + 0xF000);
        assert_eq!(repr.upgrade_addr, image::FLASH_BASE + 0x131000);
        // The body is the executable, padded with 0xFF to 4 bytes as the packer pads it.
        let mut body = vec![0u8; repr.img_len as usize];
        flash
            .read(app.offset + image::HEADER_AREA, &mut body)
            .unwrap();
        let mut expected = std::fs::read(path.parent().unwrap().join("w800-sim")).unwrap();
        expected.extend_from_slice(&[0xFF; 3]);
        assert_eq!(body, expected);
        repr.check_body(&body).unwrap();

        // A second open keeps the content and reports no creation.
        drop(flash);
        let (_, factory) = FileStore::open_or_create(&path, "9.9.9", &running).unwrap();
        assert_eq!(factory, None);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_running_executable_too_large_for_app_leaves_a_header_without_code() {
        let path = temp_flash("too-large");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let exe = path.parent().unwrap().join("w800-sim");
        let file = File::create(&exe).unwrap();
        file.set_len(1_186_817).unwrap();
        let running = Executable::at(&exe).unwrap();
        let (store, factory) = FileStore::open_or_create(&path, "1.2.3", &running).unwrap();
        assert_eq!(
            factory,
            Some(FactoryApp::TooLarge {
                len: 1_186_817,
                capacity: 1_186_816
            })
        );
        let text = factory.unwrap().to_string();
        assert!(text.contains("does not fit app"), "{text}");
        let mut flash = SimulatedNor::new(store, FlashGeometry::W800);
        let mut header = [0u8; image::HEADER_LEN];
        flash.read(0xF000, &mut header).unwrap();
        let repr = ImageHeaderRepr::parse_bytes(&header).unwrap();
        assert_eq!((repr.version.as_str(), repr.img_len), ("1.2.3", 0));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_flash_file_of_the_wrong_size_is_refused() {
        let path = temp_flash("short");
        let running = executable(path.parent().unwrap(), 8);
        std::fs::write(&path, [0xFF; 100]).unwrap();
        assert!(matches!(
            FileStore::open_or_create(&path, "1.0", &running),
            Err(SimError::FlashSize(_, 100))
        ));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn options_take_a_flash_path_and_refuse_anything_else() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let o = SimOptions::parse(args(&["sim", "--flash", "/tmp/f.bin"])).unwrap();
        assert_eq!(o.flash, PathBuf::from("/tmp/f.bin"));
        assert_eq!(
            SimOptions::parse(args(&["sim"])).unwrap().flash,
            PathBuf::from(SimOptions::DEFAULT_FLASH)
        );
        assert!(SimOptions::parse(args(&["sim", "--flash"])).is_err());
        assert!(SimOptions::parse(args(&["sim", "--bogus"])).is_err());
        let o = SimOptions::parse(args(&[
            "sim",
            "--tap",
            "t0",
            "--mac",
            "02:57:38:30:30:14",
            "--ap",
            "lab:secret123",
            "--impair",
            "loss=1%",
        ]))
        .unwrap();
        assert_eq!(o.tap.as_deref(), Some("t0"));
        assert_eq!(o.mac, [0x02, 0x57, 0x38, 0x30, 0x30, 0x14]);
        assert_eq!(SimOptions::parse(args(&["sim"])).unwrap().mac, DEFAULT_MAC);
        assert!(SimOptions::parse(args(&["sim", "--mac", "01:00:5e:00:00:01"])).is_err());
        assert_eq!(o.access_points.len(), 1);
        assert_eq!(o.access_points[0].ssid, "lab");
        assert_eq!(o.impairment.loss_ppm, 10_000);
        assert_eq!(
            SimOptions::parse(args(&["sim"])).unwrap().access_points,
            [AccessPoint::seed_default()]
        );
        assert!(matches!(
            SimOptions::parse(args(&["sim", "--impair", "lag=1"])),
            Err(SimError::Impairment(_))
        ));
    }

    #[test]
    fn the_clock_starts_at_the_epoch_and_can_be_set() {
        let clock = SimClock::new();
        assert!(clock.unix_time() < 5);
        clock.set_unix_time(1_800_000_000);
        assert!((1_800_000_000..1_800_000_005).contains(&clock.unix_time()));
    }
}
