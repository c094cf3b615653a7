//! The firmware's services, built at boot over the board's drivers: the network station, the
//! parsed TLS credentials, the shell's MQTT session and the OTA agent. Shell commands
//! (`crate::commands`) are thin layers over these; none of them knows the shell, and the
//! service modules (`crate::mqtt`, `crate::aws_ota`) do not know this registry either.

use crate::aws_ota::OtaService;
use crate::mqtt;
use crate::platform::Platform;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use kernel::Mutex;
use net::station::Station;
use net::tls::Credentials;

/// The services, one of each for the life of the firmware.
pub struct Services {
    /// The drivers they run on.
    pub platform: &'static Platform,
    /// The network stack, once `wifi init` started it.
    pub station: Mutex<Option<&'static Station>>,
    /// The board's credentials parsed by mbedTLS, once a TLS connection needed them.
    pub tls: Mutex<Option<&'static Credentials>>,
    /// The HTTPS server's trust anchor parsed by mbedTLS, when the board has its own for it.
    pub https_tls: Mutex<Option<&'static Credentials>>,
    /// The shell's MQTT session, made at the first `mqtt connect`.
    pub mqtt: Mutex<Option<&'static mqtt::Session>>,
    /// The OTA agent, once `aws_ota` started it.
    pub aws_ota: Mutex<Option<&'static OtaService>>,
}

impl Services {
    /// The services over `platform`, none started yet.
    pub fn new(platform: &'static Platform) -> Result<&'static Services, kernel::Error> {
        Ok(Box::leak(Box::new(Services {
            platform,
            station: Mutex::new(None)?,
            tls: Mutex::new(None)?,
            https_tls: Mutex::new(None)?,
            mqtt: Mutex::new(None)?,
            aws_ota: Mutex::new(None)?,
        })))
    }
}

impl Services {
    /// The running station, or why there is none yet.
    pub fn station(&self) -> Result<&'static Station, String> {
        self.station
            .lock()
            .ok_or_else(|| String::from("wifi is not initialised: run 'wifi init'"))
    }

    /// The board's TLS credentials (the MQTT server's trust anchor and the device's identity),
    /// parsed once.
    pub fn credentials(&self) -> Result<&'static Credentials, String> {
        let platform = self.platform;
        let mut parsed = self.tls.lock();
        if let Some(credentials) = *parsed {
            return Ok(credentials);
        }
        let blobs = platform
            .credentials
            .ok_or_else(|| String::from("no TLS credentials on this board"))?;
        let entropy = platform.secure_entropy.ok_or_else(|| {
            format!(
                "board {} has no random source fit for TLS keys",
                platform.board
            )
        })?;
        let credentials =
            Credentials::load(blobs.root_ca, blobs.device, entropy).map_err(|e| e.to_string())?;
        *parsed = Some(credentials);
        Ok(credentials)
    }

    /// The HTTPS server's trust anchor, parsed once; the MQTT server's credentials when the
    /// board has no separate one.
    pub fn https_credentials(&self) -> Result<&'static Credentials, String> {
        let platform = self.platform;
        let mut parsed = self.https_tls.lock();
        if let Some(credentials) = *parsed {
            return Ok(credentials);
        }
        let Some(root_ca) = platform.credentials.and_then(|c| c.https_root_ca) else {
            drop(parsed);
            return self.credentials();
        };
        let entropy = platform
            .secure_entropy
            .ok_or_else(|| String::from("no random source fit for TLS keys"))?;
        let loaded = Credentials::load(root_ca, None, entropy)
            .map_err(|e| format!("HTTPS trust anchor: {e}"))?;
        *parsed = Some(loaded);
        Ok(loaded)
    }
}
