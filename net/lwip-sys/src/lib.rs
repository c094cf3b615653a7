//! Raw declarations of the lwIP glue in `port/glue.c`. Only the `net` crate uses them; it
//! wraps them in safe types. Addresses are IPv4 in network byte order as `u32`.
#![no_std]

use core::ffi::{c_char, c_int, c_void};

/// Mirrors `struct lwip_port_netif_info` in `port/glue.c`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NetifInfo {
    pub ip: u32,
    pub netmask: u32,
    pub gateway: u32,
    pub dns: [u32; 2],
    pub mac: [u8; 6],
    pub link_up: u8,
    pub dhcp_bound: u8,
}

/// What `lwip_port_connect`, `lwip_port_send` and `lwip_port_recv` return on failure: the
/// calling task's own socket error, classified (`PORT_ERR_*` in `port/glue.c`).
pub const PORT_ERR_TIMEOUT: c_int = -1;
pub const PORT_ERR_CLOSED: c_int = -2;
pub const PORT_ERR_REFUSED: c_int = -3;
pub const PORT_ERR_OTHER: c_int = -4;

/// `lwip_port_socket` kinds.
pub const SOCKET_TCP: c_int = 1;
pub const SOCKET_ICMP: c_int = 2;

extern "C" {
    pub fn lwip_port_init(seed: u32) -> c_int;
    pub fn lwip_port_netif_add(link: *mut c_void, mac: *const u8) -> c_int;
    pub fn lwip_port_input(frame: *const u8, len: usize) -> c_int;
    pub fn lwip_port_link(up: c_int);
    pub fn lwip_port_netif_info(info: *mut NetifInfo);
    pub fn lwip_port_resolve(name: *const c_char, address: *mut u32) -> c_int;
    pub fn lwip_port_socket(kind: c_int, timeout_ms: c_int) -> c_int;
    pub fn lwip_port_set_recv_timeout(socket: c_int, timeout_ms: c_int) -> c_int;
    pub fn lwip_port_connect(socket: c_int, address: u32, port: u16, timeout_ms: c_int) -> c_int;
    pub fn lwip_port_sendto(socket: c_int, data: *const c_void, len: usize, address: u32) -> c_int;
    pub fn lwip_port_send(socket: c_int, data: *const c_void, len: usize) -> c_int;
    pub fn lwip_port_recv(socket: c_int, buf: *mut c_void, len: usize) -> c_int;
    pub fn lwip_port_close(socket: c_int) -> c_int;
    pub fn lwip_port_sntp_start(server: *const c_char);
    pub fn lwip_port_sntp_server(
        index: c_int,
        name: *mut *const c_char,
        address: *mut u32,
    ) -> c_int;
}
