//! TLS over lwIP TCP with mbedTLS 2.28: the server is always verified against the configured
//! root CA and the host name (the vendor example makes verification optional; we do not),
//! mutual TLS with a client certificate, SNI, validity checked against the SNTP-set clock,
//! randomness from the board.

use crate::io::{IoError, Transport};
use crate::station::{NetError, Station, TcpStream};
use alloc::boxed::Box;
use bsp::hal::Entropy;
use core::ffi::{c_int, c_uchar, c_void};
use core::fmt;
use core::net::Ipv4Addr;
use core::time::Duration;
use kernel::Mutex;
use mbedtls_sys as tls;

/// mbedTLS's own `void` (its bindings do not use `core::ffi::c_void`).
type TlsVoid = tls::types::raw_types::c_void;

/// mbedTLS error codes this module tells apart (mbedtls/ssl.h, net_sockets.h, x509.h).
const ERR_SSL_WANT_READ: c_int = -0x6900;
const ERR_SSL_WANT_WRITE: c_int = -0x6880;
const ERR_SSL_TIMEOUT: c_int = -0x6800;
const ERR_SSL_PEER_CLOSE_NOTIFY: c_int = -0x7880;
const ERR_X509_CERT_VERIFY_FAILED: c_int = -0x2700;
const ERR_NET_CONN_RESET: c_int = -0x0050;
const ERR_NET_RECV_FAILED: c_int = -0x004C;
const ERR_NET_SEND_FAILED: c_int = -0x004E;
/// mbedtls/x509.h verification flags.
const BADCERT_EXPIRED: u32 = 0x01;
const BADCERT_CN_MISMATCH: u32 = 0x04;
const BADCERT_NOT_TRUSTED: u32 = 0x08;
const BADCERT_FUTURE: u32 = 0x200;

/// Why a TLS connection failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsError {
    /// The TCP connection (or DNS) failed.
    Net(NetError),
    /// A certificate or key in the configuration did not parse (mbedTLS code).
    BadCredentials(i32),
    /// The server's chain does not lead to our root CA.
    UnknownCa,
    /// The server's certificate is not for the host name we asked for.
    NameMismatch,
    /// The server's certificate has expired (or is not valid yet) by our clock.
    Expired,
    /// The handshake did not finish in time.
    HandshakeTimeout,
    /// Any other mbedTLS failure (its code).
    Failed(i32),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Net(e) => write!(f, "{e}"),
            TlsError::BadCredentials(code) => {
                write!(f, "certificate or key does not parse (-0x{:04X})", -code)
            }
            TlsError::UnknownCa => {
                f.write_str("server certificate not signed by the configured root CA")
            }
            TlsError::NameMismatch => {
                f.write_str("server certificate does not match the host name")
            }
            TlsError::Expired => {
                f.write_str("server certificate expired or not yet valid (is the clock set?)")
            }
            TlsError::HandshakeTimeout => f.write_str("TLS handshake timed out"),
            TlsError::Failed(code) => write!(f, "TLS error -0x{:04X}", -code),
        }
    }
}

/// mbedTLS allocates here (see `MBEDTLS_PLATFORM_CALLOC_MACRO` in .cargo/config.toml).
#[no_mangle]
extern "C" fn w800_tls_calloc(count: usize, size: usize) -> *mut c_void {
    kernel::c_calloc(count, size)
}

/// mbedTLS frees here.
#[no_mangle]
extern "C" fn w800_tls_free(block: *mut c_void) {
    // SAFETY: mbedTLS frees only what it got from w800_tls_calloc, once.
    unsafe { kernel::c_free(block) }
}

/// The wall clock certificates are checked against (the epoch until the station runs).
fn unix_time() -> i64 {
    crate::station::wall_clock().map_or(0, |clock| {
        i64::try_from(clock.unix_time()).unwrap_or(i64::MAX)
    })
}

/// `MBEDTLS_PLATFORM_TIME_MACRO`: the wall clock (the W800's, set by SNTP).
#[no_mangle]
extern "C" fn mbedtls_time(out: *mut i64) -> i64 {
    let now = unix_time();
    if !out.is_null() {
        // SAFETY: mbedTLS passes a valid time_t pointer or null.
        unsafe { out.write(now) };
    }
    now
}

/// `MBEDTLS_PLATFORM_GMTIME_R_ALT`: calendar fields for certificate validity checks.
#[no_mangle]
extern "C" fn mbedtls_platform_gmtime_r(
    time: *const i64,
    out: *mut tls::types::tm,
) -> *mut tls::types::tm {
    if time.is_null() || out.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: both pointers are valid per the mbedTLS contract (checked non-null above).
    let secs = unsafe { time.read() };
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400) as i32;
    let (year, month, day) = civil_from_days(days);
    let is_leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    const BEFORE_MONTH: [i32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday =
        BEFORE_MONTH[(month - 1) as usize] + day as i32 - 1 + i32::from(month > 2 && is_leap(year));
    // SAFETY: `out` is a valid, writable struct tm.
    unsafe {
        let tm = &mut *out;
        tm.tm_sec = of_day % 60;
        tm.tm_min = of_day / 60 % 60;
        tm.tm_hour = of_day / 3600;
        tm.tm_mday = day as i32;
        tm.tm_mon = month as i32 - 1;
        tm.tm_year = (year - 1900) as i32;
        tm.tm_wday = (days + 4).rem_euclid(7) as i32;
        tm.tm_yday = yday;
        tm.tm_isdst = 0;
    }
    out
}

/// (year, month 1..=12, day 1..=31) of a day count since 1970-01-01 (proleptic Gregorian).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// `f_entropy` for the DRBG seed: the board's random source.
extern "C" fn board_entropy(context: *mut TlsVoid, out: *mut c_uchar, len: usize) -> c_int {
    // SAFETY: `context` points at the credentials' `&'static Mutex<dyn Entropy>` (a 'static
    // field), and mbedTLS passes a buffer of `len` bytes.
    let (entropy, out) = unsafe {
        (
            &*context.cast::<&'static Mutex<dyn Entropy>>(),
            core::slice::from_raw_parts_mut(out, len),
        )
    };
    entropy.lock().fill(out);
    0
}

/// The parsed root CA, client certificate and key: made once, shared by every connection.
pub struct Credentials {
    ca: tls::x509_crt,
    own_cert: tls::x509_crt,
    own_key: tls::pk_context,
    has_client_cert: bool,
    entropy: &'static Mutex<dyn Entropy>,
}

// SAFETY: after `load`, the parsed structures are only read (mbedTLS treats the CA chain and
// own certificate as const during handshakes), so sharing them between tasks is sound.
unsafe impl Sync for Credentials {}
// SAFETY: as above; nothing in them is tied to a task.
unsafe impl Send for Credentials {}

/// PEM text as mbedTLS wants it: with its terminating NUL.
fn pem(text: &[u8]) -> Result<alloc::vec::Vec<u8>, TlsError> {
    let mut owned = alloc::vec::Vec::with_capacity(text.len() + 1);
    owned.extend_from_slice(text);
    owned.push(0);
    Ok(owned)
}

impl Credentials {
    /// Parses the root CA (PEM) and, for mutual TLS, the client certificate and key (PEM).
    /// Certificates are checked against the station's wall clock.
    pub fn load(
        root_ca: &[u8],
        client: Option<(&[u8], &[u8])>,
        entropy: &'static Mutex<dyn Entropy>,
    ) -> Result<&'static Credentials, TlsError> {
        let creds: &'static mut Credentials = Box::leak(Box::new(Credentials {
            // SAFETY: plain C structs, zero is their `init` state (mbedtls_*_init below).
            ca: unsafe { core::mem::zeroed() },
            // SAFETY: as above.
            own_cert: unsafe { core::mem::zeroed() },
            // SAFETY: as above.
            own_key: unsafe { core::mem::zeroed() },
            has_client_cert: client.is_some(),
            entropy,
        }));
        // SAFETY: the structures are initialised before use and live for good (leaked); the
        // PEM buffers are NUL-terminated and outlive the parse calls.
        unsafe {
            tls::x509_crt_init(&mut creds.ca);
            tls::x509_crt_init(&mut creds.own_cert);
            tls::pk_init(&mut creds.own_key);
            let ca = pem(root_ca)?;
            check_credentials(tls::x509_crt_parse(&mut creds.ca, ca.as_ptr(), ca.len()))?;
            if let Some((cert, key)) = client {
                let cert = pem(cert)?;
                check_credentials(tls::x509_crt_parse(
                    &mut creds.own_cert,
                    cert.as_ptr(),
                    cert.len(),
                ))?;
                let key = pem(key)?;
                check_credentials(tls::pk_parse_key(
                    &mut creds.own_key,
                    key.as_ptr(),
                    key.len(),
                    core::ptr::null(),
                    0,
                ))?;
            }
        }
        Ok(creds)
    }
}

fn check_credentials(code: c_int) -> Result<(), TlsError> {
    if code == 0 {
        Ok(())
    } else {
        Err(TlsError::BadCredentials(code))
    }
}

/// Everything one connection needs, at a fixed address (mbedTLS keeps pointers into it).
struct Session {
    ssl: tls::ssl_context,
    config: tls::ssl_config,
    drbg: tls::ctr_drbg_context,
    tcp: TcpStream,
    /// The read timeout for the current call, in ms (read by `bio_recv`).
    read_timeout_ms: u32,
}

extern "C" fn bio_send(context: *mut TlsVoid, data: *const c_uchar, len: usize) -> c_int {
    // SAFETY: `context` is the boxed session, alive while mbedTLS runs on it; `data` is valid
    // for `len` bytes.
    let (session, data) = unsafe {
        (
            &mut *context.cast::<Session>(),
            core::slice::from_raw_parts(data, len),
        )
    };
    match session.tcp.write_all(data) {
        Ok(()) => len as c_int,
        Err(_) => ERR_NET_SEND_FAILED,
    }
}

extern "C" fn bio_recv_timeout(
    context: *mut TlsVoid,
    buf: *mut c_uchar,
    len: usize,
    timeout_ms: u32,
) -> c_int {
    // SAFETY: as in `bio_send`; `buf` is writable for `len` bytes.
    let (session, buf) = unsafe {
        (
            &mut *context.cast::<Session>(),
            core::slice::from_raw_parts_mut(buf, len),
        )
    };
    let wait = if timeout_ms == 0 {
        session.read_timeout_ms
    } else {
        timeout_ms
    };
    match session
        .tcp
        .read(buf, Duration::from_millis(u64::from(wait.max(1))))
    {
        Ok(0) => ERR_NET_CONN_RESET,
        Ok(n) => n as c_int,
        Err(NetError::Timeout) => ERR_SSL_TIMEOUT,
        Err(_) => ERR_NET_RECV_FAILED,
    }
}

/// A TLS connection.
pub struct TlsStream {
    session: Box<Session>,
}

// SAFETY: the session is owned by the stream and used by one task at a time (`&mut self`).
unsafe impl Send for TlsStream {}

impl TlsStream {
    /// Connects to `host:port`, verifying the server against `credentials` and `host`.
    pub fn connect(
        station: &Station,
        host: &str,
        port: u16,
        credentials: &'static Credentials,
        handshake_wait: Duration,
    ) -> Result<TlsStream, TlsError> {
        let address: Ipv4Addr = station.resolve(host).map_err(TlsError::Net)?;
        let tcp = station
            .tcp_connect(address, port, handshake_wait)
            .map_err(TlsError::Net)?;
        let mut name = heapless::Vec::<u8, 254>::from_slice(host.as_bytes())
            .map_err(|_| TlsError::Net(NetError::BadName))?;
        name.push(0).map_err(|_| TlsError::Net(NetError::BadName))?;
        let mut session = Box::new(Session {
            // SAFETY: plain C structs whose zero state is what their init functions set.
            ssl: unsafe { core::mem::zeroed() },
            // SAFETY: as above.
            config: unsafe { core::mem::zeroed() },
            // SAFETY: as above.
            drbg: unsafe { core::mem::zeroed() },
            tcp,
            read_timeout_ms: handshake_wait.as_millis().min(u128::from(u32::MAX)) as u32,
        });
        let s: *mut Session = &mut *session;
        // SAFETY: every structure is initialised before use and lives in the box, whose address
        // never changes; the credentials are 'static; `name` is NUL-terminated.
        unsafe {
            tls::ssl_init(&mut (*s).ssl);
            tls::ssl_config_init(&mut (*s).config);
            tls::ctr_drbg_init(&mut (*s).drbg);
            // The DRBG keeps the entropy context for its reseeds: the credentials' field is
            // 'static.
            let entropy = &credentials.entropy as *const &'static Mutex<dyn Entropy>;
            failed(tls::ctr_drbg_seed(
                &mut (*s).drbg,
                Some(board_entropy),
                entropy.cast_mut().cast(),
                b"w800".as_ptr(),
                4,
            ))?;
            failed(tls::ssl_config_defaults(&mut (*s).config, 0, 0, 0))?;
            tls::ssl_conf_authmode(&mut (*s).config, 2);
            tls::ssl_conf_ca_chain(
                &mut (*s).config,
                &credentials.ca as *const _ as *mut _,
                core::ptr::null_mut(),
            );
            if credentials.has_client_cert {
                failed(tls::ssl_conf_own_cert(
                    &mut (*s).config,
                    &credentials.own_cert as *const _ as *mut _,
                    &credentials.own_key as *const _ as *mut _,
                ))?;
            }
            tls::ssl_conf_rng(
                &mut (*s).config,
                Some(tls::ctr_drbg_random),
                (&mut (*s).drbg as *mut tls::ctr_drbg_context).cast(),
            );
            failed(tls::ssl_setup(&mut (*s).ssl, &(*s).config))?;
            failed(tls::ssl_set_hostname(&mut (*s).ssl, name.as_ptr().cast()))?;
            tls::ssl_set_bio(
                &mut (*s).ssl,
                s.cast(),
                Some(bio_send),
                None,
                Some(bio_recv_timeout),
            );
        }
        let start = kernel::now_ms();
        loop {
            // SAFETY: the session is set up above.
            let code = unsafe { tls::ssl_handshake(&mut session.ssl) };
            match code {
                0 => break,
                ERR_SSL_WANT_READ | ERR_SSL_WANT_WRITE | ERR_SSL_TIMEOUT
                    if u128::from(kernel::now_ms().wrapping_sub(start))
                        < handshake_wait.as_millis() => {}
                ERR_SSL_WANT_READ | ERR_SSL_WANT_WRITE | ERR_SSL_TIMEOUT => {
                    return Err(TlsError::HandshakeTimeout)
                }
                ERR_X509_CERT_VERIFY_FAILED => {
                    // SAFETY: the session is valid.
                    let flags = unsafe { tls::ssl_get_verify_result(&session.ssl) };
                    return Err(verify_error(flags));
                }
                other => return Err(TlsError::Failed(other)),
            }
        }
        Ok(TlsStream { session })
    }
}

fn failed(code: c_int) -> Result<(), TlsError> {
    if code == 0 {
        Ok(())
    } else {
        Err(TlsError::Failed(code))
    }
}

/// The most telling reason among mbedTLS's verification flags.
fn verify_error(flags: u32) -> TlsError {
    if flags & BADCERT_NOT_TRUSTED != 0 {
        TlsError::UnknownCa
    } else if flags & BADCERT_CN_MISMATCH != 0 {
        TlsError::NameMismatch
    } else if flags & (BADCERT_EXPIRED | BADCERT_FUTURE) != 0 {
        TlsError::Expired
    } else {
        TlsError::Failed(ERR_X509_CERT_VERIFY_FAILED)
    }
}

impl Transport for TlsStream {
    fn write_all(&mut self, mut data: &[u8]) -> Result<(), IoError> {
        while !data.is_empty() {
            // SAFETY: a set-up session; `data` is valid for its length.
            let n = unsafe { tls::ssl_write(&mut self.session.ssl, data.as_ptr(), data.len()) };
            match n {
                n if n > 0 => data = data.get(n as usize..).unwrap_or(&[]),
                ERR_SSL_WANT_READ | ERR_SSL_WANT_WRITE => {}
                code => return Err(IoError::Tls(code)),
            }
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8], timeout_ms: u32) -> Result<usize, IoError> {
        self.session.read_timeout_ms = timeout_ms.max(1);
        // SAFETY: a set-up session; `buf` is writable for its length.
        let n = unsafe { tls::ssl_read(&mut self.session.ssl, buf.as_mut_ptr(), buf.len()) };
        match n {
            n if n > 0 => Ok(n as usize),
            0 | ERR_SSL_PEER_CLOSE_NOTIFY => Ok(0),
            ERR_SSL_TIMEOUT | ERR_SSL_WANT_READ | ERR_SSL_WANT_WRITE => Err(IoError::Timeout),
            ERR_NET_CONN_RESET => Err(IoError::Reset),
            code => Err(IoError::Tls(code)),
        }
    }
}

impl Drop for TlsStream {
    fn drop(&mut self) {
        // SAFETY: the session was set up in `connect`; each structure is freed once, and the
        // TCP socket closes when the box drops afterwards.
        unsafe {
            tls::ssl_close_notify(&mut self.session.ssl);
            tls::ssl_free(&mut self.session.ssl);
            tls::ssl_config_free(&mut self.session.config);
            tls::ctr_drbg_free(&mut self.session.drbg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_fields_match_known_dates() {
        // SAFETY: a plain C struct of integers: all zeros is valid.
        let mut tm: tls::types::tm = unsafe { core::mem::zeroed() };
        let t: i64 = 1_795_744_225; // 2026-11-27 01:50:25 UTC, a Friday
        assert!(!mbedtls_platform_gmtime_r(&t, &mut tm).is_null());
        assert_eq!((tm.tm_year, tm.tm_mon, tm.tm_mday), (126, 10, 27));
        assert_eq!((tm.tm_hour, tm.tm_min, tm.tm_sec), (1, 50, 25));
        assert_eq!(tm.tm_wday, 5);
        assert_eq!(tm.tm_yday, 330);
        let leap: i64 = 951_782_400; // 2000-02-29
        mbedtls_platform_gmtime_r(&leap, &mut tm);
        assert_eq!(
            (tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_yday),
            (100, 1, 29, 59)
        );
    }

    #[test]
    fn verify_flags_map_to_the_most_telling_error() {
        assert_eq!(
            verify_error(BADCERT_NOT_TRUSTED | BADCERT_CN_MISMATCH),
            TlsError::UnknownCa
        );
        assert_eq!(verify_error(BADCERT_CN_MISMATCH), TlsError::NameMismatch);
        assert_eq!(verify_error(BADCERT_EXPIRED), TlsError::Expired);
        assert_eq!(verify_error(BADCERT_FUTURE), TlsError::Expired);
    }
}
