//! The Wi-Fi station on lwIP: bringing the interface up, DHCP, DNS, TCP sockets, ping and
//! SNTP. This module is the only one that calls lwIP; each call goes through the small C glue
//! in `lwip-sys`, which takes lwIP's core lock itself.

use crate::ping;
use bsp::hal::{Clock, RadioIrq, Wifi, WifiError};
use core::ffi::{c_char, c_int, c_void, CStr};
use core::fmt;
use core::net::Ipv4Addr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};
use core::time::Duration;
use kernel::Mutex;
use lwip_sys as ffi;

/// The link driver task: moves frames from the radio into lwIP.
const DRIVER_STACK_WORDS: u16 = 1024;
const DRIVER_PRIORITY: kernel::Priority = 7;
/// The largest Ethernet frame.
const FRAME_MAX: usize = 1514;

/// Why a network operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetError {
    /// lwIP could not start, or is out of memory.
    Stack,
    /// Wi-Fi refused the connection.
    Wifi(WifiError),
    /// Not connected to an access point.
    NotConnected,
    /// DHCP gave no address in time.
    NoAddress,
    /// The name did not resolve.
    Dns,
    /// The peer refused or did not answer.
    Connect,
    /// The wait ran out.
    Timeout,
    /// The peer closed or reset the connection.
    Closed,
    /// A name too long for lwIP (or with a NUL in it).
    BadName,
    /// The station runs already: lwIP and its one interface start once per boot.
    AlreadyStarted,
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::Stack => f.write_str("network stack error"),
            NetError::Wifi(e) => write!(f, "{e}"),
            NetError::NotConnected => f.write_str("not connected (wifi connect first)"),
            NetError::NoAddress => f.write_str("no IP address from DHCP"),
            NetError::Dns => f.write_str("name not resolved"),
            NetError::Connect => f.write_str("connection refused or unanswered"),
            NetError::Timeout => f.write_str("timed out"),
            NetError::Closed => f.write_str("connection closed"),
            NetError::BadName => f.write_str("bad host name"),
            NetError::AlreadyStarted => f.write_str("the network stack runs already"),
        }
    }
}

/// The interface's addresses, as `ifconfig` shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interface {
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
    pub netmask: Ipv4Addr,
    pub gateway: Ipv4Addr,
    pub dns: [Ipv4Addr; 2],
    pub link_up: bool,
    pub dhcp_bound: bool,
}

/// The radio, shared by the driver task and lwIP's output path.
type SharedWifi = Mutex<dyn Wifi>;

/// The radio's interrupt request: wakes the driver task.
struct DriverIrq(kernel::Wake);

impl RadioIrq for DriverIrq {
    fn raise(&self) {
        self.0.raise();
    }
}

/// The station interface. There is one; [`Station::start`] makes it.
pub struct Station {
    wifi: &'static SharedWifi,
    /// Whether lwIP has the link up (the driver follows the radio's state).
    link_up: AtomicBool,
}

/// Called by `port/glue.c` for every frame lwIP sends; `link` is the station.
///
/// # Safety
/// `link` is the `&'static Station` given to `lwip_port_netif_add`, and `frame` is valid for
/// `len` bytes for the duration of the call.
#[no_mangle]
unsafe extern "C" fn net_link_output(link: *mut c_void, frame: *const u8, len: usize) -> c_int {
    // SAFETY: per this function's contract.
    let (station, frame) = unsafe {
        (
            &*link.cast::<Station>(),
            core::slice::from_raw_parts(frame, len),
        )
    };
    station.wifi.lock().send(frame);
    0
}

/// lwIP's assertion: a broken invariant inside the stack is a bug.
///
/// # Safety
/// `message` and `file` are NUL-terminated strings (lwIP passes literals).
#[no_mangle]
unsafe extern "C" fn lwip_port_assert(message: *const c_char, file: *const c_char, line: c_int) {
    // SAFETY: per this function's contract.
    let (message, file) = unsafe { (CStr::from_ptr(message), CStr::from_ptr(file)) };
    panic!("lwIP assertion {message:?} at {file:?}:{line}");
}

/// The wall clock: SNTP sets it and TLS checks certificates against it. Registered by
/// [`Station::start`]: a leaked `&'static dyn Clock`.
static WALL_CLOCK: AtomicPtr<&'static dyn Clock> = AtomicPtr::new(core::ptr::null_mut());

/// The wall clock, once the station started.
pub(crate) fn wall_clock() -> Option<&'static dyn Clock> {
    let clock = WALL_CLOCK.load(Ordering::Acquire);
    // SAFETY: only ever set to a leaked, never freed `&'static dyn Clock`.
    (!clock.is_null()).then(|| unsafe { *clock })
}
/// Unix seconds of the last SNTP answer (0: none yet).
static SNTP_LAST: AtomicU32 = AtomicU32::new(0);
/// How many SNTP answers came, so a caller can wait for the next one.
static SNTP_ANSWERS: AtomicU32 = AtomicU32::new(0);

/// lwIP's SNTP client calls this with each answer.
#[no_mangle]
extern "C" fn lwip_port_set_system_time(sec: u32, _usec: u32) {
    SNTP_LAST.store(sec, Ordering::Release);
    SNTP_ANSWERS.fetch_add(1, Ordering::AcqRel);
    if let Some(clock) = wall_clock() {
        clock.set_unix_time(u64::from(sec));
    }
    log::info!(target: "ntp", "time set to {sec} (unix)");
}

/// Whether [`Station::start`] ran (it may run once).
static STARTED: AtomicBool = AtomicBool::new(false);

impl Station {
    /// Starts lwIP and the link driver on `wifi`; SNTP answers set `clock`. Only the first
    /// call starts anything; later ones fail with [`NetError::AlreadyStarted`].
    pub fn start(
        wifi: &'static SharedWifi,
        clock: &'static dyn Clock,
        seed: u32,
    ) -> Result<&'static Station, NetError> {
        // tcpip_init and netif_add on the one static interface must run once per boot.
        if STARTED
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(NetError::AlreadyStarted);
        }
        let station: &'static Station = alloc_static(Station {
            wifi,
            link_up: AtomicBool::new(false),
        });
        WALL_CLOCK.store(alloc_static(clock), Ordering::Release);
        let mac = wifi.lock().mac();
        // SAFETY: lwip_port_init is called once; the station outlives lwIP (it is 'static),
        // so the pointer given as the netif state stays valid.
        unsafe {
            if ffi::lwip_port_init(seed) != 0 {
                return Err(NetError::Stack);
            }
            if ffi::lwip_port_netif_add(station as *const Station as *mut c_void, mac.as_ptr()) != 0
            {
                return Err(NetError::Stack);
            }
        }
        let wake = kernel::Wake::new().map_err(|_| NetError::Stack)?;
        wifi.lock().set_irq(alloc_static(DriverIrq(wake)));
        kernel::spawn("netif", DRIVER_STACK_WORDS, DRIVER_PRIORITY, move || {
            station.drive(wake)
        })
        .map_err(|_| NetError::Stack)?;
        Ok(station)
    }

    /// The driver task: frames from the radio into lwIP, and the link state into lwIP. It
    /// sleeps until the radio raises its interrupt request, then takes everything the radio
    /// has; a raise that comes while it works is kept for its next wait.
    fn drive(&self, wake: kernel::Wake) {
        let mut frame = [0u8; FRAME_MAX];
        loop {
            self.follow_radio();
            loop {
                let received = self.wifi.lock().recv(&mut frame);
                let Some(len) = received else { break };
                // SAFETY: `frame` holds `len` received bytes; glue.c copies them.
                unsafe { ffi::lwip_port_input(frame.as_ptr(), len) };
            }
            wake.wait(kernel::FOREVER);
        }
    }

    /// Takes lwIP's link down when the radio lost its access point, and up when it is back.
    fn follow_radio(&self) {
        let radio_up = self.wifi.lock().is_connected();
        if radio_up != self.link_up.load(Ordering::Acquire) {
            self.set_link(radio_up);
            if radio_up {
                log::info!(target: "wifi", "sta link back");
            } else {
                log::warn!(target: "wifi", "sta link lost");
            }
        }
    }

    fn set_link(&self, up: bool) {
        self.link_up.store(up, Ordering::Release);
        // SAFETY: glue.c takes the core lock around the netif change.
        unsafe { ffi::lwip_port_link(c_int::from(up)) };
    }

    /// Associates with `ssid`, then starts DHCP.
    pub fn connect(&self, ssid: &str, passphrase: &str) -> Result<(), NetError> {
        self.wifi
            .lock()
            .connect(ssid, passphrase)
            .map_err(NetError::Wifi)?;
        self.set_link(true);
        Ok(())
    }

    /// Leaves the access point and drops the address.
    pub fn disconnect(&self) {
        self.set_link(false);
        self.wifi.lock().disconnect();
    }

    /// The interface's addresses now.
    pub fn interface(&self) -> Interface {
        let mut info = ffi::NetifInfo::default();
        // SAFETY: `info` is a valid out structure of the mirrored layout.
        unsafe { ffi::lwip_port_netif_info(&mut info) };
        let ip = |raw: u32| Ipv4Addr::from(u32::from_be(raw));
        Interface {
            mac: info.mac,
            ip: ip(info.ip),
            netmask: ip(info.netmask),
            gateway: ip(info.gateway),
            dns: [ip(info.dns[0]), ip(info.dns[1])],
            link_up: info.link_up != 0,
            dhcp_bound: info.dhcp_bound != 0,
        }
    }

    /// Waits up to `wait` for DHCP to give an address.
    pub fn wait_for_address(&self, wait: Duration) -> Result<Ipv4Addr, NetError> {
        let start = kernel::now_ms();
        loop {
            let interface = self.interface();
            if !interface.link_up {
                return Err(NetError::NotConnected);
            }
            if interface.dhcp_bound {
                return Ok(interface.ip);
            }
            if u128::from(kernel::now_ms().wrapping_sub(start)) >= wait.as_millis() {
                return Err(NetError::NoAddress);
            }
            kernel::delay(Duration::from_millis(50));
        }
    }

    /// Resolves a host name (or dotted quad) through DNS.
    pub fn resolve(&self, host: &str) -> Result<Ipv4Addr, NetError> {
        if let Ok(address) = host.parse() {
            return Ok(address);
        }
        let name = c_name(host)?;
        let mut address = 0u32;
        // SAFETY: `name` is NUL-terminated; `address` is a valid out pointer. Blocks this task
        // only (lwIP's netconn API waits on a semaphore).
        let failed = unsafe { ffi::lwip_port_resolve(name.as_ptr().cast(), &mut address) };
        if failed != 0 {
            return Err(NetError::Dns);
        }
        Ok(Ipv4Addr::from(u32::from_be(address)))
    }

    /// One ICMP echo to `address`; the round trip in milliseconds.
    pub fn ping(&self, address: Ipv4Addr, sequence: u16, wait: Duration) -> Result<u32, NetError> {
        let socket = Socket::open(ffi::SOCKET_ICMP, wait)?;
        let identifier = 0x5738;
        let request = ping::echo_request(identifier, sequence);
        let start = kernel::now_ms();
        // SAFETY: a valid socket, and `request` is valid for its length.
        let sent = unsafe {
            ffi::lwip_port_sendto(
                socket.0,
                request.as_ptr().cast(),
                request.len(),
                u32::from(address).to_be(),
            )
        };
        if sent < 0 {
            return Err(NetError::Connect);
        }
        let mut reply = [0u8; 128];
        loop {
            let elapsed = kernel::now_ms().wrapping_sub(start);
            if u128::from(elapsed) >= wait.as_millis() {
                return Err(NetError::Timeout);
            }
            let n = socket.recv(&mut reply)?;
            if reply
                .get(..n)
                .is_some_and(|d| ping::is_echo_reply(d, identifier, sequence))
            {
                return Ok(kernel::now_ms().wrapping_sub(start));
            }
        }
    }

    /// Starts SNTP with the servers DHCP gave, or with `server` when given.
    pub fn sntp_start(&self, server: Option<&str>) -> Result<(), NetError> {
        match server {
            Some(name) => {
                // lwIP keeps the server *name pointer*: it must live for good, so it is leaked
                // (one small allocation per `ntp start` with a name).
                let kept: &'static [u8] = alloc_static(c_name(name)?);
                // SAFETY: `kept` is NUL-terminated and lives for good.
                unsafe { ffi::lwip_port_sntp_start(kept.as_ptr().cast()) };
            }
            // SAFETY: NULL selects the DHCP-supplied servers.
            None => unsafe { ffi::lwip_port_sntp_start(core::ptr::null()) },
        }
        Ok(())
    }

    /// The SNTP servers in use: a name (if set by name) and an address (if known).
    pub fn sntp_servers(&self) -> heapless::Vec<(heapless::String<64>, Ipv4Addr), 2> {
        let mut servers = heapless::Vec::new();
        for index in 0..2 {
            let mut name: *const c_char = core::ptr::null();
            let mut address = 0u32;
            // SAFETY: valid out pointers; lwIP returns a name it keeps (or NULL).
            if unsafe { ffi::lwip_port_sntp_server(index, &mut name, &mut address) } != 0 {
                continue;
            }
            let mut text = heapless::String::new();
            if !name.is_null() {
                // SAFETY: a NUL-terminated name owned by lwIP's SNTP client.
                let name = unsafe { CStr::from_ptr(name) };
                for c in name.to_str().unwrap_or("?").chars() {
                    if text.push(c).is_err() {
                        break;
                    }
                }
            }
            let _ = servers.push((text, Ipv4Addr::from(u32::from_be(address))));
        }
        servers
    }

    /// Unix seconds of the last SNTP answer, if one came.
    pub fn sntp_last(&self) -> Option<u32> {
        Some(SNTP_LAST.load(Ordering::Acquire)).filter(|s| *s != 0)
    }

    /// How many SNTP answers came since boot.
    pub fn sntp_answers(&self) -> u32 {
        SNTP_ANSWERS.load(Ordering::Acquire)
    }

    /// A TCP connection to `address:port`; reads and writes wait at most `wait`.
    pub fn tcp_connect(
        &self,
        address: Ipv4Addr,
        port: u16,
        wait: Duration,
    ) -> Result<TcpStream, NetError> {
        let socket = Socket::open(ffi::SOCKET_TCP, wait)?;
        // SAFETY: a valid socket; the address is in network order as glue.c expects.
        let code = unsafe {
            ffi::lwip_port_connect(socket.0, u32::from(address).to_be(), port, wait_ms(wait))
        };
        match code {
            0 => Ok(TcpStream { socket }),
            ffi::PORT_ERR_TIMEOUT => Err(NetError::Timeout),
            _ => Err(NetError::Connect),
        }
    }
}

/// A leaked box: for the few objects that live as long as the firmware.
fn alloc_static<T>(value: T) -> &'static mut T {
    alloc::boxed::Box::leak(alloc::boxed::Box::new(value))
}

/// A NUL-terminated copy of a host name (at most 253 bytes, the DNS limit).
fn c_name(name: &str) -> Result<heapless::Vec<u8, 254>, NetError> {
    if name.is_empty() || name.bytes().any(|b| b == 0) {
        return Err(NetError::BadName);
    }
    let mut c = heapless::Vec::from_slice(name.as_bytes()).map_err(|_| NetError::BadName)?;
    c.push(0).map_err(|_| NetError::BadName)?;
    Ok(c)
}

/// A wait as lwIP's socket options take it: milliseconds, at least 1 (0 would mean forever).
fn wait_ms(wait: Duration) -> c_int {
    c_int::try_from(wait.as_millis())
        .unwrap_or(c_int::MAX)
        .max(1)
}

/// An lwIP socket, closed on drop.
struct Socket(c_int);

impl Socket {
    fn open(kind: c_int, wait: Duration) -> Result<Socket, NetError> {
        // SAFETY: creates a socket; a negative result means none.
        let socket = unsafe { ffi::lwip_port_socket(kind, wait_ms(wait)) };
        if socket < 0 {
            return Err(NetError::Stack);
        }
        Ok(Socket(socket))
    }

    fn recv(&self, buf: &mut [u8]) -> Result<usize, NetError> {
        // SAFETY: a valid socket and buffer.
        let n = unsafe { ffi::lwip_port_recv(self.0, buf.as_mut_ptr().cast(), buf.len()) };
        match usize::try_from(n) {
            Ok(0) => Err(NetError::Closed),
            Ok(n) => Ok(n),
            Err(_) => Err(socket_error(n)),
        }
    }
}

/// What a failed glue socket call's code (the task's own socket error, classified) means.
fn socket_error(code: c_int) -> NetError {
    match code {
        ffi::PORT_ERR_TIMEOUT => NetError::Timeout,
        ffi::PORT_ERR_REFUSED => NetError::Connect,
        _ => NetError::Closed,
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: closes our socket once.
        unsafe { ffi::lwip_port_close(self.0) };
    }
}

/// A TCP connection.
pub struct TcpStream {
    socket: Socket,
}

impl TcpStream {
    /// Sends all of `data`.
    pub fn write_all(&mut self, mut data: &[u8]) -> Result<(), NetError> {
        while !data.is_empty() {
            // SAFETY: a valid socket, and `data` valid for its length.
            let n = unsafe { ffi::lwip_port_send(self.socket.0, data.as_ptr().cast(), data.len()) };
            let sent = usize::try_from(n).map_err(|_| socket_error(n))?;
            data = data.get(sent..).unwrap_or(&[]);
        }
        Ok(())
    }

    /// Receives into `buf`, waiting at most `wait`; Ok(0) when the peer closed.
    pub fn read(&mut self, buf: &mut [u8], wait: Duration) -> Result<usize, NetError> {
        // SAFETY: a valid socket.
        unsafe { ffi::lwip_port_set_recv_timeout(self.socket.0, wait_ms(wait)) };
        match self.socket.recv(buf) {
            Err(NetError::Closed) => Ok(0),
            other => other,
        }
    }
}

impl crate::io::Transport for TcpStream {
    fn write_all(&mut self, data: &[u8]) -> Result<(), crate::io::IoError> {
        TcpStream::write_all(self, data).map_err(|_| crate::io::IoError::Closed)
    }

    fn read(&mut self, buf: &mut [u8], timeout_ms: u32) -> Result<usize, crate::io::IoError> {
        match TcpStream::read(self, buf, Duration::from_millis(u64::from(timeout_ms))) {
            Ok(n) => Ok(n),
            Err(NetError::Timeout) => Err(crate::io::IoError::Timeout),
            Err(_) => Err(crate::io::IoError::Reset),
        }
    }
}
