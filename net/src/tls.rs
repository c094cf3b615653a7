//! TLS over lwIP TCP with mbedTLS 2.28: the server is always verified against the configured
//! root CA and the host name (the vendor example makes verification optional; we do not),
//! mutual TLS with a client certificate, SNI, validity checked against the SNTP-set clock,
//! randomness from the board.

use crate::io::{IoError, Transport};
use crate::station::{NetError, Station, TcpStream};
use alloc::boxed::Box;
use bsp::hal::SecureEntropy;
use core::cell::UnsafeCell;
use core::ffi::{c_char, c_int, c_uchar, c_void, CStr};
use core::fmt;
use core::net::Ipv4Addr;
use core::ptr::NonNull;
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
/// mbedtls/ssl.h configuration values.
const SSL_VERIFY_REQUIRED: c_int = 2;
const SSL_RENEGOTIATION_DISABLED: c_int = 0;

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
    /// The ALPN protocol asked for is not a valid name, or the server chose another.
    BadAlpn,
    /// No memory for the connection's structures.
    OutOfMemory,
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
            TlsError::BadAlpn => f.write_str("server did not accept the ALPN protocol"),
            TlsError::OutOfMemory => f.write_str("out of memory for TLS"),
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
///
/// # Safety
/// `block` is null or came from [`w800_tls_calloc`] and is freed once.
#[no_mangle]
unsafe extern "C" fn w800_tls_free(block: *mut c_void) {
    // SAFETY: per this function's contract.
    unsafe { kernel::c_free(block) }
}

/// The wall clock certificates are checked against (the epoch until the station runs).
fn unix_time() -> i64 {
    crate::station::wall_clock().map_or(0, |clock| {
        i64::try_from(clock.unix_time()).unwrap_or(i64::MAX)
    })
}

/// `MBEDTLS_PLATFORM_TIME_MACRO`: the wall clock (the W800's, set by SNTP).
///
/// # Safety
/// `out` is null or valid for writing a `time_t`.
#[no_mangle]
unsafe extern "C" fn mbedtls_time(out: *mut i64) -> i64 {
    let now = unix_time();
    if !out.is_null() {
        // SAFETY: per this function's contract (checked non-null).
        unsafe { out.write(now) };
    }
    now
}

/// `MBEDTLS_PLATFORM_GMTIME_R_ALT`: calendar fields for certificate validity checks.
///
/// # Safety
/// `time` is null or readable, `out` is null or a writable `struct tm`.
#[no_mangle]
unsafe extern "C" fn mbedtls_platform_gmtime_r(
    time: *const i64,
    out: *mut tls::types::tm,
) -> *mut tls::types::tm {
    if time.is_null() || out.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: per this function's contract (both checked non-null above).
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
///
/// # Safety
/// `context` must point at a `&'static Mutex<dyn SecureEntropy>` that outlives the DRBG, and
/// `out` must be writable for `len` bytes (mbedTLS's contract for `f_entropy`).
unsafe extern "C" fn board_entropy(context: *mut TlsVoid, out: *mut c_uchar, len: usize) -> c_int {
    // SAFETY: per this function's contract (the credentials' 'static `entropy` field, and
    // mbedTLS's output buffer).
    let (entropy, out) = unsafe {
        (
            &*context.cast::<&'static Mutex<dyn SecureEntropy>>(),
            core::slice::from_raw_parts_mut(out, len),
        )
    };
    entropy.lock().fill(out);
    0
}

/// The cipher suites offered: TLS 1.2 ECDHE with AES-GCM, what AWS IoT Core and S3 accept
/// (RFC 5289 numbers), in order of preference, 0-terminated as mbedTLS wants the list. No
/// static-RSA key exchange (no forward secrecy), no CBC, no ARIA or Camellia.
static CIPHER_SUITES: [c_int; 5] = [
    0xC02B, // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    0xC02F, // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    0xC02C, // TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    0xC030, // TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    0,
];

/// The ALPN protocol AWS IoT Core wants for MQTT over port 443 ("MQTT with X.509 client
/// certificate authentication", AWS IoT developer guide, "Protocols, port mappings, and
/// authentication").
pub const AWS_IOT_MQTT_ALPN: &str = "x-amzn-mqtt-ca";

/// The longest ALPN protocol name we offer (RFC 7301 allows 255; ours are short).
const ALPN_MAX: usize = 31;

/// The parsed root CA, client certificate and key, shared by every connection made with them.
pub struct Credentials {
    /// The mbedTLS structures. mbedTLS writes into them while it uses them (an RSA key caches
    /// its Montgomery constant and blinding values; an EC group caches its comb table), so
    /// they sit in an `UnsafeCell` and are used only while `handshake` is held.
    contexts: UnsafeCell<CredentialContexts>,
    /// Held for every handshake made with these credentials: the only time mbedTLS touches
    /// them (renegotiation is off, so nothing after the handshake does). One lock rather than
    /// mbedTLS's threading layer (which would need `MBEDTLS_THREADING_C` and a mutex inside
    /// every RSA context) or a copy per session (a parsed chain and key are several KB each):
    /// handshakes are rare, and a reconnect that waits for another's handshake loses little.
    handshake: Mutex<()>,
    has_client_cert: bool,
    entropy: &'static Mutex<dyn SecureEntropy>,
}

struct CredentialContexts {
    ca: tls::x509_crt,
    own_cert: tls::x509_crt,
    own_key: tls::pk_context,
}

impl Drop for CredentialContexts {
    fn drop(&mut self) {
        // SAFETY: each structure was initialised when the value was made and is freed once;
        // freeing an initialised but unused structure is valid.
        unsafe {
            tls::x509_crt_free(&mut self.ca);
            tls::x509_crt_free(&mut self.own_cert);
            tls::pk_free(&mut self.own_key);
        }
    }
}

// SAFETY: the mbedTLS structures are only used by mbedTLS inside a handshake, with
// `handshake` held, so no two tasks ever use them at once; nothing in them is tied to a task.
unsafe impl Sync for Credentials {}
// SAFETY: as above.
unsafe impl Send for Credentials {}

/// PEM text as mbedTLS wants it: with its terminating NUL.
fn pem(text: &[u8]) -> alloc::vec::Vec<u8> {
    let mut owned = alloc::vec::Vec::with_capacity(text.len() + 1);
    owned.extend_from_slice(text);
    owned.push(0);
    owned
}

impl Credentials {
    /// Parses the root CA (PEM, one or more certificates) and, for mutual TLS, the client
    /// certificate and key (PEM; RSA or EC). Certificates are checked against the station's
    /// wall clock. A TLS session needs a random source fit for keys: `entropy`.
    pub fn load(
        root_ca: &[u8],
        client: Option<(&[u8], &[u8])>,
        entropy: &'static Mutex<dyn SecureEntropy>,
    ) -> Result<&'static Credentials, TlsError> {
        let mut contexts = CredentialContexts {
            // SAFETY: plain C structs; zero is what their init functions set, and they are
            // initialised below before anything else.
            ca: unsafe { core::mem::zeroed() },
            // SAFETY: as above.
            own_cert: unsafe { core::mem::zeroed() },
            // SAFETY: as above.
            own_key: unsafe { core::mem::zeroed() },
        };
        // SAFETY: initialising fresh structures; from here on `contexts` frees them on drop.
        unsafe {
            tls::x509_crt_init(&mut contexts.ca);
            tls::x509_crt_init(&mut contexts.own_cert);
            tls::pk_init(&mut contexts.own_key);
        }
        let ca = pem(root_ca);
        // SAFETY: an initialised chain and a NUL-terminated buffer that outlives the call.
        check_credentials(unsafe { tls::x509_crt_parse(&mut contexts.ca, ca.as_ptr(), ca.len()) })?;
        if let Some((cert, key)) = client {
            let cert = pem(cert);
            // SAFETY: as above.
            check_credentials(unsafe {
                tls::x509_crt_parse(&mut contexts.own_cert, cert.as_ptr(), cert.len())
            })?;
            let key = pem(key);
            // SAFETY: an initialised key context and a NUL-terminated buffer; no password.
            check_credentials(unsafe {
                tls::pk_parse_key(
                    &mut contexts.own_key,
                    key.as_ptr(),
                    key.len(),
                    core::ptr::null(),
                    0,
                )
            })?;
        }
        let handshake = Mutex::new(()).map_err(|_| TlsError::OutOfMemory)?;
        Ok(Box::leak(Box::new(Credentials {
            contexts: UnsafeCell::new(contexts),
            handshake,
            has_client_cert: client.is_some(),
            entropy,
        })))
    }
}

fn check_credentials(code: c_int) -> Result<(), TlsError> {
    if code == 0 {
        Ok(())
    } else {
        Err(TlsError::BadCredentials(code))
    }
}

/// What mbedTLS holds for one connection, at a fixed address (mbedTLS keeps pointers into
/// it: the context points at the config, the config at the DRBG and the ALPN list). Reached
/// only through raw pointers once mbedTLS has them.
struct Session {
    ssl: tls::ssl_context,
    config: tls::ssl_config,
    drbg: tls::ctr_drbg_context,
    /// The NUL-terminated ALPN protocol and the NULL-terminated list mbedTLS reads it from.
    alpn_name: [u8; ALPN_MAX + 1],
    alpn_list: [*const c_char; 2],
}

/// What the I/O callbacks use, in an allocation of its own so that they never form a
/// reference overlapping what mbedTLS holds while it calls them.
struct Bio {
    tcp: TcpStream,
    /// The read timeout for the current call, in ms.
    read_timeout_ms: u32,
}

/// # Safety
/// `context` must be the connection's live `Bio`, used by nothing else during the call, and
/// `data` valid for `len` bytes (mbedTLS's contract for `f_send`).
unsafe extern "C" fn bio_send(context: *mut TlsVoid, data: *const c_uchar, len: usize) -> c_int {
    // SAFETY: per this function's contract.
    let (bio, data) = unsafe {
        (
            &mut *context.cast::<Bio>(),
            core::slice::from_raw_parts(data, len),
        )
    };
    match bio.tcp.write_all(data) {
        Ok(()) => len as c_int,
        Err(_) => ERR_NET_SEND_FAILED,
    }
}

/// # Safety
/// As [`bio_send`], with `buf` writable for `len` bytes (`f_recv_timeout`).
unsafe extern "C" fn bio_recv_timeout(
    context: *mut TlsVoid,
    buf: *mut c_uchar,
    len: usize,
    timeout_ms: u32,
) -> c_int {
    // SAFETY: per this function's contract.
    let (bio, buf) = unsafe {
        (
            &mut *context.cast::<Bio>(),
            core::slice::from_raw_parts_mut(buf, len),
        )
    };
    let wait = if timeout_ms == 0 {
        bio.read_timeout_ms
    } else {
        timeout_ms
    };
    match bio
        .tcp
        .read(buf, Duration::from_millis(u64::from(wait.max(1))))
    {
        Ok(0) => ERR_NET_CONN_RESET,
        Ok(n) => n as c_int,
        Err(NetError::Timeout) => ERR_SSL_TIMEOUT,
        Err(_) => ERR_NET_RECV_FAILED,
    }
}

/// A TLS connection. It owns its mbedTLS structures from the moment they exist, so every
/// way out of [`TlsStream::connect`] and every drop frees them.
pub struct TlsStream {
    session: NonNull<Session>,
    bio: NonNull<Bio>,
    /// Whether the handshake finished (a close_notify is owed to the server).
    established: bool,
}

// SAFETY: the stream owns both allocations and is used by one task at a time (`&mut self`).
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
        Self::connect_with_alpn(station, host, port, None, credentials, handshake_wait)
    }

    /// As [`TlsStream::connect`], offering the ALPN protocol `alpn` (e.g.
    /// [`AWS_IOT_MQTT_ALPN`] for MQTT on port 443); a server that picks another is refused.
    pub fn connect_with_alpn(
        station: &Station,
        host: &str,
        port: u16,
        alpn: Option<&str>,
        credentials: &'static Credentials,
        handshake_wait: Duration,
    ) -> Result<TlsStream, TlsError> {
        let mut name = heapless::Vec::<u8, 254>::from_slice(host.as_bytes())
            .map_err(|_| TlsError::Net(NetError::BadName))?;
        name.push(0).map_err(|_| TlsError::Net(NetError::BadName))?;
        let mut alpn_name = [0u8; ALPN_MAX + 1];
        if let Some(protocol) = alpn {
            if protocol.is_empty() || protocol.len() > ALPN_MAX || protocol.contains('\0') {
                return Err(TlsError::BadAlpn);
            }
            alpn_name[..protocol.len()].copy_from_slice(protocol.as_bytes());
        }
        let address: Ipv4Addr = station.resolve(host).map_err(TlsError::Net)?;
        let tcp = station
            .tcp_connect(address, port, handshake_wait)
            .map_err(TlsError::Net)?;
        let mut stream = TlsStream::new(tcp, alpn_name, handshake_wait);
        stream.configure(&name, alpn.is_some(), credentials)?;
        stream.handshake(credentials, handshake_wait)?;
        if let Some(wanted) = alpn {
            if stream.alpn_chosen() != Some(wanted.as_bytes()) {
                return Err(TlsError::BadAlpn);
            }
        }
        stream.established = true;
        Ok(stream)
    }

    /// Allocates and initialises the structures; the stream frees them from here on.
    fn new(tcp: TcpStream, alpn_name: [u8; ALPN_MAX + 1], wait: Duration) -> TlsStream {
        let bio = Box::new(Bio {
            tcp,
            read_timeout_ms: wait.as_millis().min(u128::from(u32::MAX)) as u32,
        });
        let session = Box::new(Session {
            // SAFETY: plain C structs whose zero state is what their init functions set.
            ssl: unsafe { core::mem::zeroed() },
            // SAFETY: as above.
            config: unsafe { core::mem::zeroed() },
            // SAFETY: as above.
            drbg: unsafe { core::mem::zeroed() },
            alpn_name,
            alpn_list: [core::ptr::null(); 2],
        });
        let stream = TlsStream {
            session: NonNull::from(Box::leak(session)),
            bio: NonNull::from(Box::leak(bio)),
            established: false,
        };
        let s = stream.session.as_ptr();
        // SAFETY: `s` is the live session allocation; init functions only zero/prepare.
        unsafe {
            tls::ssl_init(&raw mut (*s).ssl);
            tls::ssl_config_init(&raw mut (*s).config);
            tls::ctr_drbg_init(&raw mut (*s).drbg);
        }
        stream
    }

    /// Seeds the DRBG and sets up the configuration and the context.
    fn configure(
        &mut self,
        name: &[u8],
        with_alpn: bool,
        credentials: &'static Credentials,
    ) -> Result<(), TlsError> {
        let s = self.session.as_ptr();
        let contexts = credentials.contexts.get();
        // SAFETY: `s` is the live, initialised session, reached only through raw pointers;
        // mbedTLS keeps pointers to its fields, which stay put until the stream drops. The
        // credentials are 'static; storing pointers to them does not touch them (they are
        // used in `handshake`, under the credentials' lock). `name` is NUL-terminated and
        // copied by mbedTLS. The entropy context is the credentials' 'static field.
        unsafe {
            let entropy = &raw const credentials.entropy;
            failed(tls::ctr_drbg_seed(
                &raw mut (*s).drbg,
                Some(board_entropy),
                entropy.cast_mut().cast(),
                b"w800".as_ptr(),
                4,
            ))?;
            let config = &raw mut (*s).config;
            failed(tls::ssl_config_defaults(config, 0, 0, 0))?;
            tls::ssl_conf_authmode(config, SSL_VERIFY_REQUIRED);
            tls::ssl_conf_min_version(config, 3, 3);
            tls::ssl_conf_ciphersuites(config, CIPHER_SUITES.as_ptr());
            tls::ssl_conf_renegotiation(config, SSL_RENEGOTIATION_DISABLED);
            tls::ssl_conf_ca_chain(config, &raw mut (*contexts).ca, core::ptr::null_mut());
            if credentials.has_client_cert {
                failed(tls::ssl_conf_own_cert(
                    config,
                    &raw mut (*contexts).own_cert,
                    &raw mut (*contexts).own_key,
                ))?;
            }
            if with_alpn {
                (*s).alpn_list = [(&raw const (*s).alpn_name).cast(), core::ptr::null()];
                failed(tls::ssl_conf_alpn_protocols(
                    config,
                    (&raw mut (*s).alpn_list).cast(),
                ))?;
            }
            tls::ssl_conf_rng(
                config,
                Some(tls::ctr_drbg_random),
                (&raw mut (*s).drbg).cast(),
            );
            failed(tls::ssl_setup(&raw mut (*s).ssl, config))?;
            failed(tls::ssl_set_hostname(
                &raw mut (*s).ssl,
                name.as_ptr().cast(),
            ))?;
            tls::ssl_set_bio(
                &raw mut (*s).ssl,
                self.bio.as_ptr().cast(),
                Some(bio_send),
                None,
                Some(bio_recv_timeout),
            );
        }
        Ok(())
    }

    /// Runs the handshake with the credentials' lock held (the only time mbedTLS uses them).
    fn handshake(&mut self, credentials: &Credentials, wait: Duration) -> Result<(), TlsError> {
        let _credentials_in_use = credentials.handshake.lock();
        let ssl = self.ssl();
        let start = kernel::now_ms();
        loop {
            // SAFETY: a set-up context; the credentials' lock is held.
            let code = unsafe { tls::ssl_handshake(ssl) };
            match code {
                0 => return Ok(()),
                ERR_SSL_WANT_READ | ERR_SSL_WANT_WRITE | ERR_SSL_TIMEOUT
                    if u128::from(kernel::now_ms().wrapping_sub(start)) < wait.as_millis() => {}
                ERR_SSL_WANT_READ | ERR_SSL_WANT_WRITE | ERR_SSL_TIMEOUT => {
                    return Err(TlsError::HandshakeTimeout)
                }
                ERR_X509_CERT_VERIFY_FAILED => {
                    // SAFETY: a set-up context.
                    let flags = unsafe { tls::ssl_get_verify_result(ssl) };
                    return Err(verify_error(flags));
                }
                other => return Err(TlsError::Failed(other)),
            }
        }
    }

    /// The ALPN protocol the server chose, if any.
    fn alpn_chosen(&self) -> Option<&[u8]> {
        // SAFETY: a set-up context; mbedTLS returns NULL or a pointer into our own list.
        let chosen = unsafe { tls::ssl_get_alpn_protocol(self.ssl()) };
        // SAFETY: a NUL-terminated name in the session, which lives as long as `self`.
        (!chosen.is_null()).then(|| unsafe { CStr::from_ptr(chosen.cast()) }.to_bytes())
    }

    fn ssl(&self) -> *mut tls::ssl_context {
        // SAFETY: a place projection on the live session; no reference is formed.
        unsafe { &raw mut (*self.session.as_ptr()).ssl }
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
            // SAFETY: an established context; `data` is valid for its length.
            let n = unsafe { tls::ssl_write(self.ssl(), data.as_ptr(), data.len()) };
            match n {
                n if n > 0 => data = data.get(n as usize..).unwrap_or(&[]),
                ERR_SSL_WANT_READ | ERR_SSL_WANT_WRITE => {}
                code => return Err(IoError::Tls(code)),
            }
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8], timeout_ms: u32) -> Result<usize, IoError> {
        // SAFETY: mbedTLS is not running (we hold `&mut self`), so nothing else uses the Bio.
        unsafe { (*self.bio.as_ptr()).read_timeout_ms = timeout_ms.max(1) };
        // SAFETY: an established context; `buf` is writable for its length.
        let n = unsafe { tls::ssl_read(self.ssl(), buf.as_mut_ptr(), buf.len()) };
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
        let s = self.session.as_ptr();
        // SAFETY: both allocations came from `Box::leak` in `new` and are freed once, here,
        // after mbedTLS let go of them (the context is freed before the Bio it points at).
        unsafe {
            if self.established {
                tls::ssl_close_notify(&raw mut (*s).ssl);
            }
            tls::ssl_free(&raw mut (*s).ssl);
            tls::ssl_config_free(&raw mut (*s).config);
            tls::ctr_drbg_free(&raw mut (*s).drbg);
            drop(Box::from_raw(s));
            drop(Box::from_raw(self.bio.as_ptr()));
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
                                    // SAFETY: valid pointers to locals.
        assert!(!unsafe { mbedtls_platform_gmtime_r(&t, &mut tm) }.is_null());
        assert_eq!((tm.tm_year, tm.tm_mon, tm.tm_mday), (126, 10, 27));
        assert_eq!((tm.tm_hour, tm.tm_min, tm.tm_sec), (1, 50, 25));
        assert_eq!(tm.tm_wday, 5);
        assert_eq!(tm.tm_yday, 330);
        let leap: i64 = 951_782_400; // 2000-02-29
                                     // SAFETY: as above.
        unsafe { mbedtls_platform_gmtime_r(&leap, &mut tm) };
        assert_eq!(
            (tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_yday),
            (100, 1, 29, 59)
        );
    }

    /// A test random source: a counter from the seed in `context`, different for each call.
    unsafe extern "C" fn counting_rng(
        context: *mut TlsVoid,
        out: *mut c_uchar,
        len: usize,
    ) -> c_int {
        // SAFETY: `context` is a live `u8` of the test and `out` holds `len` bytes.
        let (next, out) = unsafe {
            (
                &mut *context.cast::<u8>(),
                core::slice::from_raw_parts_mut(out, len),
            )
        };
        for byte in out {
            *next = next.wrapping_mul(5).wrapping_add(7);
            *byte = *next;
        }
        0
    }

    #[test]
    fn ecdsa_signatures_do_not_depend_on_the_random_source() {
        let _heap = crate::TEST_HEAP.lock();
        // SAFETY: a plain C struct; zero is its init state, and it is freed at the end.
        let mut key: tls::ecdsa_context = unsafe { core::mem::zeroed() };
        let mut seed = 1u8;
        let hash = [0x5Au8; 32];
        let mut signatures = [[0u8; 80]; 2];
        // SAFETY: valid pointers to locals for every call; the key is freed once.
        unsafe {
            tls::ecdsa_init(&mut key);
            assert_eq!(
                tls::ecp_gen_key(
                    tls::ECP_DP_SECP256R1,
                    &mut key,
                    Some(counting_rng),
                    (&raw mut seed).cast()
                ),
                0
            );
            for (signature, rng_seed) in signatures.iter_mut().zip([3u8, 200]) {
                let mut rng_state = rng_seed;
                let mut len = 0usize;
                assert_eq!(
                    tls::ecdsa_write_signature(
                        &mut key,
                        tls::MD_SHA256,
                        hash.as_ptr(),
                        hash.len(),
                        signature.as_mut_ptr(),
                        &mut len,
                        Some(counting_rng),
                        (&raw mut rng_state).cast(),
                    ),
                    0
                );
                assert!(
                    len > 64 && len <= 72,
                    "a DER P-256 signature, got {len} bytes"
                );
            }
            tls::ecdsa_free(&mut key);
        }
        // RFC 6979: the nonce comes from the key and the hash, so two random sources sign alike.
        assert_eq!(signatures[0], signatures[1]);
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
