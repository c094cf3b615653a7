//! Networking for the W800 firmware.
//!
//! The protocol side is pure `no_std` Rust without FFI, so it is tested on the host:
//!
//! - [`io`]: the byte stream ([`io::Transport`]), clock and randomness the clients run over;
//! - [`wire`]: codecs for MQTT 3.1.1 control packets, HTTP/1.1 range requests and responses,
//!   and `http(s)` URLs;
//! - [`mqtt`]: an MQTT 3.1.1 client (the AWS IoT Jobs channel) and its reconnect policy;
//! - [`http`]: an HTTP/1.1 client for `Range` downloads over a kept-alive connection (the OTA
//!   file channel);
//! - [`ping`]: ICMP echo packets.
//!
//! lwIP and mbedTLS glue lives beside these modules and provides the transports; only these
//! modules call C and so only they are allowed `unsafe`:
//!
//! - [`station`]: the Wi-Fi station on lwIP (DHCP, DNS, TCP, ICMP, SNTP);
//! - [`tls`]: TLS over lwIP TCP with mbedTLS, and [`digest`]: SHA-256 from the same library.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

/// Host tests that make mbedTLS allocate take this first: the FreeRTOS heap (heap_4) is only
/// safe between threads under the scheduler, which host tests do not run.
#[cfg(test)]
pub(crate) static TEST_HEAP: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[allow(unsafe_code)]
pub mod digest;
pub mod http;
pub mod io;
pub mod mqtt;
pub mod ping;
#[allow(unsafe_code)]
pub mod station;
#[allow(unsafe_code)]
pub mod tls;
pub mod wire;
