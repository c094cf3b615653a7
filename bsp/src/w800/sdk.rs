//! The vendor SDK's Wi-Fi station, for the `wm-iot-sdk` build (docs/w800-wifi.md): the FFI
//! surface that connects the station through the SDK's network manager and hands over the
//! station's lwIP netif, and the checks on what crosses it.
//!
//! Declarations follow `wm_iot_sdk`'s headers (`wm_nm_api.h`, `wm_nm_def.h`, `wm_netif.h`,
//! `wm_wifi.h`, `wm_error.h`); the `wm-iot-sdk` build compiles `sdk_abi.c` against the user's
//! SDK to check every constant, layout and function type used here, and stops on a
//! mismatch. The limits on SSID and passphrase are the network manager's
//! (`wm_nm_wifi_param_is_valid` in `wm_nm_api.c`), which copies both before it returns.

use core::ffi::{c_char, c_int, c_void};
use core::fmt;

/// `WM_ERR_SUCCESS`.
pub const WM_ERR_SUCCESS: c_int = 0;
/// `WM_NETIF_TYPE_WIFI_STA` (`wm_netif_type_t`).
pub const NETIF_TYPE_WIFI_STA: c_int = 0;
/// `WM_WIFI_IF_STA` (`wm_wifi_interface_t`).
pub const WIFI_IF_STA: c_int = 0;

/// The network manager's states (`wm_nm_state_e`); the station's are 1 to 7.
pub mod nm_state {
    use core::ffi::c_int;
    pub const INIT: c_int = 0;
    pub const CONNECTING: c_int = 1;
    pub const CONNECTED: c_int = 2;
    pub const DISCONNECTED: c_int = 3;
    pub const GOT_IP: c_int = 4;
    pub const GOT_IP6: c_int = 5;
    pub const LOST_IP: c_int = 6;
    pub const LOST_IP6: c_int = 7;
    pub const EXIT: c_int = 10;
}

/// `wm_nm_wifi_station_cfg_t`: NUL-terminated SSID and password (NULL for an open network).
#[repr(C)]
#[derive(Debug)]
pub struct StationConfig {
    pub ssid: *const c_char,
    pub password: *const c_char,
}

/// `wm_netif_t`: the interface type and the network stack's own netif (lwIP's
/// `struct netif *`).
#[repr(C)]
#[derive(Debug)]
pub struct NetifHandle {
    pub kind: c_int,
    pub netif: *mut c_void,
}

/// The longest SSID (`WM_NM_WIFI_SSID_MAX_LENGTH`).
pub const SSID_MAX: usize = 32;
/// The shortest and longest passphrase (`WM_NM_WIFI_PWD_MIN_LENGTH`, `..._MAX_LENGTH`).
pub const PASSPHRASE_MIN: usize = 8;
pub const PASSPHRASE_MAX: usize = 64;

/// Why the station did not connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StationError {
    /// Empty, longer than 32 bytes, or with a NUL inside.
    BadSsid,
    /// Not 8 to 64 bytes, or with a NUL inside.
    BadPassphrase,
    /// The network manager refused to start (its error code).
    Refused(c_int),
    /// The station was disconnected or lost its address before it had one.
    Disconnected,
    /// No address within the time given.
    Timeout,
}

impl fmt::Display for StationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StationError::BadSsid => write!(f, "the SSID must be 1 to {SSID_MAX} bytes"),
            StationError::BadPassphrase => write!(
                f,
                "the passphrase must be empty (open network) or {PASSPHRASE_MIN} to \
                 {PASSPHRASE_MAX} bytes"
            ),
            StationError::Refused(code) => write!(f, "the SDK refused the station ({code})"),
            StationError::Disconnected => write!(f, "disconnected before getting an address"),
            StationError::Timeout => write!(f, "no address in time"),
        }
    }
}

/// SSID and passphrase as the network manager takes them: checked, NUL-terminated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    ssid: [u8; SSID_MAX + 1],
    passphrase: [u8; PASSPHRASE_MAX + 1],
    open: bool,
}

impl Credentials {
    /// The credentials of `ssid`; an empty `passphrase` means an open network.
    pub fn new(ssid: &str, passphrase: &str) -> Result<Credentials, StationError> {
        let mut credentials = Credentials {
            ssid: [0; SSID_MAX + 1],
            passphrase: [0; PASSPHRASE_MAX + 1],
            open: passphrase.is_empty(),
        };
        let ssid = ssid.as_bytes();
        if ssid.is_empty() || ssid.len() > SSID_MAX || ssid.contains(&0) {
            return Err(StationError::BadSsid);
        }
        credentials.ssid[..ssid.len()].copy_from_slice(ssid);
        let passphrase = passphrase.as_bytes();
        if !credentials.open {
            if !(PASSPHRASE_MIN..=PASSPHRASE_MAX).contains(&passphrase.len())
                || passphrase.contains(&0)
            {
                return Err(StationError::BadPassphrase);
            }
            credentials.passphrase[..passphrase.len()].copy_from_slice(passphrase);
        }
        Ok(credentials)
    }

    /// The configuration to start the station with; its pointers borrow `self`.
    pub fn config(&self) -> StationConfig {
        StationConfig {
            ssid: self.ssid.as_ptr().cast(),
            password: if self.open {
                core::ptr::null()
            } else {
                self.passphrase.as_ptr().cast()
            },
        }
    }
}

/// What a station state means for a connect in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Still associating or asking DHCP.
    Pending,
    /// Associated with an IPv4 address.
    Up,
    /// Gone: disconnected, the address lost, or the manager stopped.
    Down,
}

/// What the station's state means for a connect in progress.
pub const fn progress(state: c_int) -> Progress {
    match state {
        nm_state::GOT_IP => Progress::Up,
        nm_state::INIT
        | nm_state::CONNECTING
        | nm_state::CONNECTED
        | nm_state::GOT_IP6
        | nm_state::LOST_IP6 => Progress::Pending,
        _ => Progress::Down,
    }
}

#[cfg(all(feature = "wm-iot-sdk", target_arch = "csky"))]
pub use station::*;

/// The calls into the SDK: only in the `wm-iot-sdk` build for the chip.
#[cfg(all(feature = "wm-iot-sdk", target_arch = "csky"))]
mod station {
    use super::*;
    use core::ptr::NonNull;
    use core::sync::atomic::{AtomicBool, Ordering};
    use core::time::Duration;

    extern "C" {
        fn wm_nm_start_wifi_station(cfg: *mut StationConfig) -> c_int;
        fn wm_nm_get_wifi_station_state() -> c_int;
        fn wm_nm_stop_wifi_station() -> c_int;
        fn wm_wifi_get_mac(ifx: c_int, mac: *mut u8) -> c_int;
        fn wm_netif_get_netif(interface: c_int) -> *mut NetifHandle;
    }

    /// How often a connect looks at the station's state.
    const POLL: Duration = Duration::from_millis(100);

    static TAKEN: AtomicBool = AtomicBool::new(false);

    /// The SDK's Wi-Fi station.
    #[derive(Debug)]
    pub struct SdkStation(());

    impl SdkStation {
        /// The station, once per start (the board takes it).
        pub(crate) fn take() -> SdkStation {
            assert!(
                !TAKEN.swap(true, Ordering::SeqCst),
                "the SDK station is taken once"
            );
            SdkStation(())
        }

        /// Connects to the network `credentials` name and waits, at most `timeout`, for its
        /// IPv4 address from the SDK's DHCP client. Task context only (it sleeps).
        pub fn connect(
            &mut self,
            credentials: &Credentials,
            timeout: Duration,
        ) -> Result<(), StationError> {
            let mut config = credentials.config();
            // SAFETY: `config` points at NUL-terminated strings in `credentials`, alive for
            // the call; the manager copies them before it returns.
            let code = unsafe { wm_nm_start_wifi_station(&mut config) };
            if code != WM_ERR_SUCCESS {
                return Err(StationError::Refused(code));
            }
            let start = kernel::now_ms();
            loop {
                // SAFETY: a query without arguments.
                match progress(unsafe { wm_nm_get_wifi_station_state() }) {
                    Progress::Up => return Ok(()),
                    Progress::Down => return Err(StationError::Disconnected),
                    Progress::Pending => {}
                }
                if u128::from(kernel::now_ms().wrapping_sub(start)) >= timeout.as_millis() {
                    return Err(StationError::Timeout);
                }
                kernel::delay(POLL);
            }
        }

        /// Leaves the network.
        pub fn disconnect(&mut self) {
            // SAFETY: a request without arguments; its result only says whether the manager
            // took the message, and there is nothing to undo either way.
            let _ = unsafe { wm_nm_stop_wifi_station() };
        }

        /// Whether the station has its IPv4 address now.
        pub fn is_up(&self) -> bool {
            // SAFETY: a query without arguments.
            progress(unsafe { wm_nm_get_wifi_station_state() }) == Progress::Up
        }

        /// The station's MAC address.
        pub fn mac(&self) -> Option<[u8; 6]> {
            let mut mac = [0u8; 6];
            // SAFETY: `mac` has the 6 bytes the function writes.
            let code = unsafe { wm_wifi_get_mac(WIFI_IF_STA, mac.as_mut_ptr()) };
            (code == WM_ERR_SUCCESS).then_some(mac)
        }

        /// The hand-over: the SDK lwIP's `struct netif *` of the station, for a network stack
        /// built on the SDK's lwIP (it exists once the station was started). lwIP owns it:
        /// every call on it must come from lwIP's tcpip thread or hold its core lock.
        pub fn lwip_netif(&self) -> Option<NonNull<c_void>> {
            // SAFETY: a lookup by interface type; it returns the SDK's static entry or NULL.
            let handle = unsafe { wm_netif_get_netif(NETIF_TYPE_WIFI_STA) };
            // SAFETY: a non-null handle points at the SDK's entry, which lives as long as the
            // firmware.
            let handle = unsafe { handle.as_ref() }?;
            NonNull::new(handle.netif)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_the_network_managers_limits_nul_terminated() {
        let c = Credentials::new("61test", "12345678").unwrap();
        let config = c.config();
        // SAFETY: the pointers borrow `c`, alive here, and are NUL-terminated.
        let (ssid, pass) = unsafe {
            (
                core::ffi::CStr::from_ptr(config.ssid),
                core::ffi::CStr::from_ptr(config.password),
            )
        };
        assert_eq!(ssid.to_bytes(), b"61test");
        assert_eq!(pass.to_bytes(), b"12345678");

        let open = Credentials::new("cafe", "").unwrap();
        assert!(open.config().password.is_null());

        let longest = "s".repeat(SSID_MAX);
        assert!(Credentials::new(&longest, &"p".repeat(PASSPHRASE_MAX)).is_ok());
        assert_eq!(
            Credentials::new(&(longest + "s"), ""),
            Err(StationError::BadSsid)
        );
        assert_eq!(Credentials::new("", ""), Err(StationError::BadSsid));
        assert_eq!(Credentials::new("a\0b", ""), Err(StationError::BadSsid));
        assert_eq!(
            Credentials::new("net", "1234567"),
            Err(StationError::BadPassphrase)
        );
        assert_eq!(
            Credentials::new("net", &"p".repeat(PASSPHRASE_MAX + 1)),
            Err(StationError::BadPassphrase)
        );
        assert_eq!(
            Credentials::new("net", "1234\x005678"),
            Err(StationError::BadPassphrase)
        );
    }

    #[test]
    fn only_an_ipv4_address_ends_a_connect_well() {
        assert_eq!(progress(nm_state::GOT_IP), Progress::Up);
        for pending in [
            nm_state::INIT,
            nm_state::CONNECTING,
            nm_state::CONNECTED,
            nm_state::GOT_IP6,
            nm_state::LOST_IP6,
        ] {
            assert_eq!(progress(pending), Progress::Pending, "{pending}");
        }
        for down in [
            nm_state::DISCONNECTED,
            nm_state::LOST_IP,
            nm_state::EXIT,
            8,
            -1,
        ] {
            assert_eq!(progress(down), Progress::Down, "{down}");
        }
    }

    #[test]
    fn the_values_sdk_abi_c_checks() {
        // The same numbers as the static assertions in sdk_abi.c, which hold them against
        // the user's SDK; these hold the Rust side to them.
        assert_eq!(
            (WM_ERR_SUCCESS, NETIF_TYPE_WIFI_STA, WIFI_IF_STA),
            (0, 0, 0)
        );
        assert_eq!(
            [nm_state::GOT_IP, nm_state::DISCONNECTED, nm_state::EXIT],
            [4, 3, 10]
        );
        assert_eq!(
            core::mem::size_of::<StationConfig>(),
            2 * size_of::<usize>()
        );
        assert_eq!(
            core::mem::offset_of!(NetifHandle, netif),
            size_of::<usize>()
        );
    }
}
