//! The sim's radio: a list of simulated access points in front of a TAP device.
//!
//! `wifi connect` succeeds only for an SSID on the list with its passphrase; then Ethernet
//! frames flow between lwIP and the TAP device, through the impairment layer in both
//! directions. The TAP device is made by `scripts/testnet` inside the test network's
//! namespace, where the sim runs; without one there is no radio.
//!
//! The radio interrupts its driver task as the chip's would: a host thread (the radio's
//! hardware) waits in `ppoll` on the TAP descriptor and on the radio's timer, and raises the
//! driver's [`RadioIrq`] when frames arrived (then it stops watching the device until the
//! radio has read it dry, as a driver re-enables its receive interrupt), when a frame the
//! impairment layer delayed is due, in either direction, and when a link flap begins or ends.
//! The thread calls neither FreeRTOS nor the firmware's allocator: only system calls, atomics
//! and the `RadioIrq`, whose `raise` is safe from a host thread.

use crate::hal::{RadioIrq, Wifi, WifiError};
use crate::impair::{ImpairConfig, Impairment};
use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::{c_void, CString};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// The largest Ethernet frame (without FCS).
pub const FRAME_MAX: usize = 1514;
/// Frames each direction of the impairment layer can hold.
const QUEUE_FRAMES: usize = 64;
/// "Nothing due": the radio's timer is off.
const NEVER: u64 = u64::MAX;

type Queue = Impairment<QUEUE_FRAMES, FRAME_MAX>;

/// The station's MAC address unless `--mac` gives another: locally administered, unicast.
pub const DEFAULT_MAC: [u8; 6] = [0x02, 0x57, 0x38, 0x30, 0x30, 0x01];

/// Parses a MAC address as `ip link` prints it (`02:57:38:30:30:01`); a multicast address
/// (the first octet's low bit set) is refused, since a station's own address is unicast.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut octets = text.split(':');
    for byte in &mut mac {
        let octet = octets.next().filter(|octet| octet.len() == 2)?;
        *byte = u8::from_str_radix(octet, 16).ok()?;
    }
    (octets.next().is_none() && mac[0] & 1 == 0).then_some(mac)
}

/// A simulated access point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessPoint {
    pub ssid: String,
    pub passphrase: String,
}

impl AccessPoint {
    /// The seed's access point.
    pub fn seed_default() -> AccessPoint {
        AccessPoint {
            ssid: "61test".into(),
            passphrase: "12345678".into(),
        }
    }

    /// Parses `SSID:PASSPHRASE` (the passphrase is everything after the first colon).
    pub fn parse(spec: &str) -> Option<AccessPoint> {
        let (ssid, passphrase) = spec.split_once(':')?;
        (!ssid.is_empty() && (8..=63).contains(&passphrase.len())).then(|| AccessPoint {
            ssid: ssid.into(),
            passphrase: passphrase.into(),
        })
    }
}

/// Puts a value in host memory rather than in the FreeRTOS heap (the global allocator):
/// the sim's radio buffers are hardware, not the chip's RAM, and must not show in `free`.
/// Never freed: the radio lives as long as the process.
fn in_host_memory<T>(value: T) -> &'static mut T {
    let layout = Layout::new::<T>();
    // SAFETY: `layout` is non-zero-sized (T holds frame buffers); the block is written with
    // `value` before the reference is made, and never freed, so it stays valid for 'static.
    unsafe {
        let block = System.alloc(layout).cast::<T>();
        if block.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        block.write(value);
        &mut *block
    }
}

/// Microseconds since `started`: the impairment layer's clock.
fn micros_since(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(NEVER)
}

/// The radio's hardware: the TAP device and what the radio's host thread shares with the
/// driver side. In host memory, for good (the thread never ends).
struct Hardware {
    tap: i32,
    /// An eventfd: makes the thread look again at `rx_armed` and `deadline`.
    kick: i32,
    /// Whether the thread watches the TAP device for frames: cleared when it raised the
    /// interrupt for them, set again when the driver side has read the device dry.
    rx_armed: AtomicBool,
    /// The radio's timer: when (on the impairment layer's clock) the driver must look again,
    /// for a delayed frame or a link change; [`NEVER`] when off. Only lowered by the driver
    /// side; the thread turns it off when it fires.
    deadline: AtomicU64,
    started: Instant,
    /// The driver task's interrupt request, once given.
    irq: OnceLock<&'static dyn RadioIrq>,
}

impl Hardware {
    /// Makes the thread look again at what it waits for.
    fn kick(&self) {
        let one = 1u64;
        // SAFETY: writes 8 bytes to our own eventfd; a full counter needs no second kick.
        unsafe { libc::write(self.kick, core::ptr::from_ref(&one).cast(), 8) };
    }

    /// Lets the thread watch the TAP device again (the receive interrupt re-enabled).
    fn arm_rx(&self) {
        if !self.rx_armed.swap(true, Ordering::SeqCst) {
            self.kick();
        }
    }

    /// Sets the timer to `due` unless it runs out sooner.
    fn arm_timer(&self, due: u64) {
        if self.deadline.fetch_min(due, Ordering::SeqCst) > due {
            self.kick();
        }
    }

    /// The host thread: waits for frames on the TAP device and for the timer, and raises the
    /// interrupt for them.
    fn watch(&self) -> ! {
        loop {
            let deadline = self.deadline.load(Ordering::SeqCst);
            let armed = self.rx_armed.load(Ordering::SeqCst);
            let mut fds = [
                libc::pollfd {
                    fd: self.kick,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    // A negative descriptor is skipped: the device is not watched.
                    fd: if armed { self.tap } else { -1 },
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            let now = micros_since(self.started);
            if deadline > now {
                let timeout = (deadline != NEVER).then(|| {
                    let wait_us = deadline - now;
                    libc::timespec {
                        tv_sec: libc::time_t::try_from(wait_us / 1_000_000)
                            .unwrap_or(libc::time_t::MAX),
                        tv_nsec: ((wait_us % 1_000_000) * 1000) as libc::c_long,
                    }
                });
                let timeout = timeout
                    .as_ref()
                    .map_or(core::ptr::null(), core::ptr::from_ref);
                // SAFETY: two valid pollfd records and a valid (or null: no) timeout; the
                // signal mask is left as it is (this thread blocks every signal).
                unsafe { libc::ppoll(fds.as_mut_ptr(), 2, timeout, core::ptr::null()) };
            }
            if fds[0].revents != 0 {
                let mut count = 0u64;
                // SAFETY: reads the eventfd's 8-byte counter into `count`, clearing it.
                unsafe { libc::read(self.kick, core::ptr::from_mut(&mut count).cast(), 8) };
            }
            let mut raise = false;
            if fds[1].revents != 0 {
                self.rx_armed.store(false, Ordering::SeqCst);
                raise = true;
            }
            if deadline <= micros_since(self.started) {
                // Lowered meanwhile: the new time stays.
                let _ = self.deadline.compare_exchange(
                    deadline,
                    NEVER,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
                raise = true;
            }
            if let (true, Some(irq)) = (raise, self.irq.get()) {
                irq.raise();
            }
        }
    }
}

/// The radio's host thread; `hardware` is the `&'static Hardware` `start_radio_thread` gives.
extern "C" fn radio_thread(hardware: *mut c_void) -> *mut c_void {
    // SAFETY: only `start_radio_thread` starts this function, with a `&'static Hardware`.
    let hardware = unsafe { &*hardware.cast::<Hardware>() };
    hardware.watch()
}

/// Starts the radio's host thread with every signal blocked, so that the POSIX port's
/// signals (the FreeRTOS tick) only ever reach task threads.
fn start_radio_thread(hardware: &'static Hardware) -> io::Result<()> {
    // SAFETY: the signal mask of this thread is blocked around pthread_create, so the new
    // thread inherits a full mask, and restored after; `hardware` is 'static, as
    // `radio_thread` requires; the thread is detached, nothing joins it.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let mut thread: libc::pthread_t = std::mem::zeroed();
        let created = libc::pthread_create(
            &mut thread,
            core::ptr::null(),
            radio_thread,
            core::ptr::from_ref(hardware).cast_mut().cast(),
        );
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut());
        if created != 0 {
            return Err(io::Error::from_raw_os_error(created));
        }
        libc::pthread_detach(thread);
    }
    Ok(())
}

/// When the link next goes down or comes back (on the impairment layer's clock), if it flaps.
fn next_link_change(config: &ImpairConfig, now_us: u64) -> Option<u64> {
    let flap = config.flap?;
    let period_us = u64::from(flap.period_ms) * 1000;
    let up_us = u64::from(flap.period_ms.saturating_sub(flap.down_ms)) * 1000;
    let phase = now_us.checked_rem(period_us)?;
    let period_start = now_us - phase;
    Some(if phase < up_us {
        period_start + up_us
    } else {
        period_start + period_us
    })
}

/// The station.
pub struct SimWifi {
    hardware: Option<&'static Hardware>,
    access_points: Vec<AccessPoint>,
    associated: bool,
    mac: [u8; 6],
    to_air: &'static mut Queue,
    from_air: &'static mut Queue,
    started: Instant,
}

impl SimWifi {
    /// A radio with address `mac` on the TAP device `tap` (none: `connect` reports no radio),
    /// with its host thread.
    pub fn new(
        tap: Option<&str>,
        mac: [u8; 6],
        access_points: Vec<AccessPoint>,
        impairment: ImpairConfig,
    ) -> io::Result<SimWifi> {
        let started = Instant::now();
        let hardware = tap.map(|name| open_hardware(name, started)).transpose()?;
        let mut reverse = impairment;
        reverse.seed = impairment.seed.wrapping_add(1);
        Ok(SimWifi {
            hardware,
            access_points,
            associated: false,
            mac,
            to_air: in_host_memory(Queue::new(impairment)),
            from_air: in_host_memory(Queue::new(reverse)),
            started,
        })
    }

    /// The impairment layer's clock: microseconds since the radio was made.
    fn now_us(&self) -> u64 {
        micros_since(self.started)
    }

    /// Sets the radio's timer for the next delayed frame (either direction) or, while
    /// associated, the next link change.
    fn schedule(&self, now: u64) {
        let Some(hardware) = self.hardware else {
            return;
        };
        let link_change = self
            .associated
            .then(|| next_link_change(self.to_air.config(), now))
            .flatten();
        let next = [
            self.to_air.next_due(),
            self.from_air.next_due(),
            link_change,
        ]
        .into_iter()
        .flatten()
        .filter(|due| *due > now)
        .min();
        if let Some(due) = next {
            hardware.arm_timer(due);
        }
    }

    /// Writes the frames whose time has come to the TAP device.
    fn flush_to_air(&mut self, fd: i32, now: u64) {
        let mut frame = [0u8; FRAME_MAX];
        while let Some(len) = self.to_air.pop_due(now, &mut frame) {
            // SAFETY: writes `len` initialised bytes of `frame` to our own descriptor.
            // A full TAP queue drops the frame, as the air would.
            unsafe { libc::write(fd, frame.as_ptr().cast(), len) };
        }
    }

    /// Reads the TAP device dry into the receive queue (dropped when not associated, or when
    /// the queue is full, as a radio's full receive queue drops them), then lets the host
    /// thread watch it again.
    fn take_from_air(&mut self, hardware: &Hardware, now: u64) {
        let mut frame = [0u8; FRAME_MAX];
        loop {
            // SAFETY: reads at most FRAME_MAX bytes into `frame` from our non-blocking descriptor.
            let n = unsafe { libc::read(hardware.tap, frame.as_mut_ptr().cast(), frame.len()) };
            match usize::try_from(n) {
                Ok(0) => break,
                Ok(len) => {
                    if self.associated {
                        self.from_air.submit(now, &frame[..len]);
                    }
                }
                Err(_) => {
                    // Dry. Any other error leaves the device unwatched: a broken radio is silent.
                    if io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock {
                        hardware.arm_rx();
                    }
                    break;
                }
            }
        }
    }
}

/// The TAP device and the radio's host thread.
fn open_hardware(tap: &str, started: Instant) -> io::Result<&'static Hardware> {
    let tap = open_tap(tap)?;
    // SAFETY: makes an eventfd; a negative result means none.
    let kick = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if kick < 0 {
        return Err(io::Error::last_os_error());
    }
    let hardware: &'static Hardware = in_host_memory(Hardware {
        tap,
        kick,
        rx_armed: AtomicBool::new(false),
        deadline: AtomicU64::new(NEVER),
        started,
        irq: OnceLock::new(),
    });
    start_radio_thread(hardware)?;
    Ok(hardware)
}

fn open_tap(name: &str) -> io::Result<i32> {
    let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    if cname.as_bytes().len() >= libc::IFNAMSIZ {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: opens the TUN/TAP clone device; the descriptor is ours alone. O_CLOEXEC: a reset
    // re-executes the sim, which opens the (persistent) device again.
    let fd = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `request` is a zeroed ifreq with a NUL-terminated name shorter than IFNAMSIZ
    // and the TAP flags; TUNSETIFF reads it and attaches `fd` to that device.
    let attached = unsafe {
        let mut request: libc::ifreq = std::mem::zeroed();
        for (dst, src) in request.ifr_name.iter_mut().zip(cname.as_bytes()) {
            *dst = *src as libc::c_char;
        }
        request.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
        libc::ioctl(fd, libc::TUNSETIFF, &request)
    };
    if attached < 0 {
        let err = io::Error::last_os_error();
        // SAFETY: closes the descriptor opened above, once.
        unsafe { libc::close(fd) };
        return Err(err);
    }
    Ok(fd)
}

impl Wifi for SimWifi {
    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn set_irq(&mut self, irq: &'static dyn RadioIrq) {
        if let Some(hardware) = self.hardware {
            if hardware.irq.set(irq).is_ok() {
                hardware.arm_rx();
            }
        }
    }

    fn connect(&mut self, ssid: &str, passphrase: &str) -> Result<(), WifiError> {
        if self.hardware.is_none() {
            return Err(WifiError::NoRadio);
        }
        let ap = self
            .access_points
            .iter()
            .find(|ap| ap.ssid == ssid)
            .ok_or(WifiError::NoSuchNetwork)?;
        if ap.passphrase != passphrase {
            return Err(WifiError::WrongPassphrase);
        }
        self.associated = true;
        self.schedule(self.now_us());
        Ok(())
    }

    fn disconnect(&mut self) {
        self.associated = false;
    }

    fn is_connected(&mut self) -> bool {
        self.associated && self.to_air.config().link_up(self.now_us())
    }

    fn send(&mut self, frame: &[u8]) {
        let (Some(hardware), true) = (self.hardware, self.associated) else {
            return;
        };
        let now = self.now_us();
        self.to_air.submit(now, frame);
        self.flush_to_air(hardware.tap, now);
        self.schedule(now);
    }

    fn recv(&mut self, buf: &mut [u8]) -> Option<usize> {
        let hardware = self.hardware?;
        let now = self.now_us();
        self.flush_to_air(hardware.tap, now);
        self.take_from_air(hardware, now);
        let received = self.from_air.pop_due(now, buf);
        self.schedule(now);
        received
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_points_parse_with_wpa2_passphrase_lengths() {
        assert_eq!(
            AccessPoint::parse("61test:12345678"),
            Some(AccessPoint::seed_default())
        );
        assert_eq!(
            AccessPoint::parse("lab:pass:with:colons").map(|a| a.passphrase),
            Some("pass:with:colons".to_string())
        );
        assert_eq!(AccessPoint::parse("short:1234567"), None);
        assert_eq!(AccessPoint::parse(":12345678"), None);
        assert_eq!(AccessPoint::parse("nocolon"), None);
    }

    #[test]
    fn mac_addresses_parse_as_ip_link_prints_them_and_must_be_unicast() {
        assert_eq!(parse_mac("02:57:38:30:30:01"), Some(DEFAULT_MAC));
        assert_eq!(
            parse_mac("02:aB:00:00:10:ff"),
            Some([0x02, 0xAB, 0x00, 0x00, 0x10, 0xFF])
        );
        // Multicast, too short, too long, a short octet, not hex.
        for bad in [
            "03:57:38:30:30:01",
            "02:57:38:30:30",
            "02:57:38:30:30:01:00",
            "02:57:38:30:30:1",
            "02:57:38:30:30:0g",
            "",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_timer_finds_the_next_edge_of_a_flapping_link() {
        let flapping = ImpairConfig::parse("flap=1000/100").unwrap();
        // Up for 900 ms of every second, then down for 100 ms.
        assert_eq!(next_link_change(&flapping, 0), Some(900_000));
        assert_eq!(next_link_change(&flapping, 899_999), Some(900_000));
        assert_eq!(next_link_change(&flapping, 900_000), Some(1_000_000));
        assert_eq!(next_link_change(&flapping, 2_950_000), Some(3_000_000));
        assert_eq!(next_link_change(&ImpairConfig::default(), 5), None);
    }

    #[test]
    fn without_a_tap_device_there_is_no_radio() {
        let mut wifi = SimWifi::new(
            None,
            DEFAULT_MAC,
            vec![AccessPoint::seed_default()],
            ImpairConfig::default(),
        )
        .unwrap();
        assert_eq!(wifi.connect("61test", "12345678"), Err(WifiError::NoRadio));
        assert!(!wifi.is_connected());
        assert_eq!(wifi.recv(&mut [0u8; 64]), None);
    }
}
