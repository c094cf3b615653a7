//! The firmware's services, built at boot over the board's drivers: the network station, the
//! parsed TLS credentials, the shell's MQTT session and the OTA agent. Shell commands are thin
//! layers over these; none of them knows the shell.

use crate::aws_ota::OtaService;
use crate::mqtt;
use crate::platform::Platform;
use alloc::boxed::Box;
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
