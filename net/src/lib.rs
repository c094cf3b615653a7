//! Networking for the W800 firmware.
//!
//! The protocol side is pure `no_std` Rust without FFI, so it is tested on the host:
//!
//! - [`io`]: the byte stream ([`io::Transport`]), clock and randomness the clients run over;
//! - [`wire`]: codecs for MQTT 3.1.1 control packets, HTTP/1.1 range requests and responses,
//!   and `http(s)` URLs;
//! - [`mqtt`]: an MQTT 3.1.1 client (the AWS IoT Jobs channel) and its reconnect policy;
//! - [`http`]: an HTTP/1.1 client for `Range` downloads over a kept-alive connection (the OTA
//!   file channel).
//!
//! lwIP and mbedTLS glue lives beside these modules and provides the transports:
//!
//! - [`station`]: the Wi-Fi station on lwIP (DHCP, DNS, TCP, ICMP, SNTP), the only module that
//!   calls C and so the only one allowed `unsafe`;
//! - [`ping`]: ICMP echo packets.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod http;
pub mod io;
pub mod mqtt;
pub mod ping;
#[allow(unsafe_code)]
pub mod station;
#[allow(unsafe_code)]
pub mod tls;
pub mod wire;
