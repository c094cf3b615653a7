//! What the application needs from a board, behind the `bsp` traits.

use alloc::boxed::Box;
use bsp::hal::{
    Clock, Console, Entropy, Flash, LoopbackCloud, Reset, SecureEntropy, TlsCredentials, Wifi,
};
use kernel::Mutex;

/// The code-signing certificate built in (see `build.rs`), if the build had one.
pub const BUILT_IN_CODE_SIGNING_CERT: Option<&[u8]> =
    include!(concat!(env!("OUT_DIR"), "/code_signing.rs"));

/// The TLS credentials built into the firmware (see `build.rs`: `W800_MQTT_CA`,
/// `W800_DEVICE_CERT`, `W800_DEVICE_KEY`, `W800_HTTPS_CA`, or `certs/device/`), if the build had
/// a root CA.
pub const BUILT_IN_CREDENTIALS: Option<TlsCredentials> =
    include!(concat!(env!("OUT_DIR"), "/credentials.rs"));

/// Who installs a staged image into `app`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installer {
    /// The firmware's own boot stage, which then restarts into what it installed: on a board
    /// where nothing runs before the firmware but the board starts what `app` holds (QEMU).
    BootStage,
    /// A bootloader, before the firmware runs from `app` (the W800's; the sim's loader); the
    /// firmware must never write the partition it runs from.
    Bootloader,
}

/// What a board does about OTA.
#[derive(Debug, Clone, Copy)]
pub struct OtaSupport {
    pub installer: Installer,
    /// The code-signing certificate (PEM with its NUL, or DER).
    pub code_signing: Option<&'static [u8]>,
    /// The OTA agent's settings text (`crate::settings`).
    pub settings: &'static str,
}

impl OtaSupport {
    /// A board whose firmware installs images itself, with the built-in certificate.
    pub const BOOT_STAGE: OtaSupport = OtaSupport {
        installer: Installer::BootStage,
        code_signing: BUILT_IN_CODE_SIGNING_CERT,
        settings: crate::settings::BUILT_IN,
    };
    /// A board with a bootloader that installs images, with the built-in certificate.
    pub const BOOTLOADER: OtaSupport = OtaSupport {
        installer: Installer::Bootloader,
        code_signing: BUILT_IN_CODE_SIGNING_CERT,
        settings: crate::settings::BUILT_IN,
    };
}

/// The board's drivers, shared by every task for the life of the firmware. The firmware's
/// services (the station, TLS, the MQTT session, the OTA agent) are in `crate::services`.
pub struct Platform {
    /// The board's name, for the banner and `version`.
    pub board: &'static str,
    pub console: &'static Mutex<dyn Console>,
    pub flash: &'static Mutex<dyn Flash>,
    pub reset: &'static dyn Reset,
    pub clock: &'static dyn Clock,
    pub entropy: &'static Mutex<dyn Entropy>,
    /// The same source when it is fit for keys: TLS needs it, and a board without one opens
    /// no TLS.
    pub secure_entropy: Option<&'static Mutex<dyn SecureEntropy>>,
    /// The radio, on boards that have one.
    pub wifi: Option<&'static Mutex<dyn Wifi>>,
    /// The TLS root CA and device credentials, on boards that hold them.
    pub credentials: Option<TlsCredentials>,
    /// Who installs OTA images, and the certificate they are checked against.
    pub ota: OtaSupport,
    /// On a board without a network, the stand-in for the cloud that the OTA agent uses
    /// instead (taken by the agent when it starts).
    pub loopback: Mutex<Option<LoopbackCloud>>,
}

impl Platform {
    /// Takes a board's drivers, its random source fit for keys (TLS) included, for the rest of
    /// the run (a board without a radio driver).
    #[allow(clippy::too_many_arguments)]
    pub fn with_secure_entropy(
        board: &'static str,
        ota: OtaSupport,
        console: impl Console + 'static,
        flash: impl Flash + 'static,
        reset: impl Reset + 'static,
        clock: impl Clock + 'static,
        entropy: impl SecureEntropy + 'static,
    ) -> Result<&'static Platform, kernel::Error> {
        let entropy = shared(entropy)?;
        Self::build(
            board,
            ota,
            console,
            flash,
            reset,
            clock,
            entropy,
            Some(entropy),
            None,
            None,
            None,
        )
    }

    /// Takes the drivers of a board without a network that offers `loopback` in place of the
    /// cloud, for the OTA agent.
    #[allow(clippy::too_many_arguments)]
    pub fn with_loopback(
        board: &'static str,
        ota: OtaSupport,
        console: impl Console + 'static,
        flash: impl Flash + 'static,
        reset: impl Reset + 'static,
        clock: impl Clock + 'static,
        entropy: impl Entropy + 'static,
        loopback: Option<LoopbackCloud>,
    ) -> Result<&'static Platform, kernel::Error> {
        Self::build(
            board,
            ota,
            console,
            flash,
            reset,
            clock,
            shared(entropy)?,
            None,
            None,
            None,
            loopback,
        )
    }

    /// Takes a board's drivers, its radio included, for the rest of the run.
    #[allow(clippy::too_many_arguments)]
    pub fn new_with_wifi(
        board: &'static str,
        ota: OtaSupport,
        console: impl Console + 'static,
        flash: impl Flash + 'static,
        reset: impl Reset + 'static,
        clock: impl Clock + 'static,
        entropy: impl SecureEntropy + 'static,
        wifi: impl Wifi + 'static,
        credentials: Option<TlsCredentials>,
    ) -> Result<&'static Platform, kernel::Error> {
        let wifi: &'static Mutex<dyn Wifi> = shared(wifi)?;
        let entropy = shared(entropy)?;
        Self::build(
            board,
            ota,
            console,
            flash,
            reset,
            clock,
            entropy,
            Some(entropy),
            Some(wifi),
            credentials,
            None,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        board: &'static str,
        ota: OtaSupport,
        console: impl Console + 'static,
        flash: impl Flash + 'static,
        reset: impl Reset + 'static,
        clock: impl Clock + 'static,
        entropy: &'static Mutex<dyn Entropy>,
        secure_entropy: Option<&'static Mutex<dyn SecureEntropy>>,
        wifi: Option<&'static Mutex<dyn Wifi>>,
        credentials: Option<TlsCredentials>,
        loopback: Option<LoopbackCloud>,
    ) -> Result<&'static Platform, kernel::Error> {
        Ok(Box::leak(Box::new(Platform {
            board,
            console: shared(console)?,
            flash: shared(flash)?,
            reset: Box::leak(Box::new(reset)),
            clock: Box::leak(Box::new(clock)),
            entropy,
            secure_entropy,
            wifi,
            credentials,
            ota,
            loopback: Mutex::new(loopback)?,
        })))
    }

    /// A `core::fmt::Write` onto the console.
    pub fn out(&self) -> ConsoleWriter {
        ConsoleWriter {
            console: self.console,
        }
    }
}

/// A mutex around `value` that lives as long as the firmware (the platform's parts do).
fn shared<T>(value: T) -> Result<&'static Mutex<T>, kernel::Error> {
    Ok(Box::leak(Box::new(Mutex::new(value)?)))
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
