//! The pure core of the W800 firmware's AWS IoT OTA agent: the job over MQTT (the AWS IoT Jobs
//! API), the file over HTTPS, as AWS's OTA library designs it — one queue of events and one
//! table of `(state, event) -> handler -> next state` — in `no_std` Rust without FFI or an
//! RTOS, so that all of it is tested on the host with fake ports.
//!
//! - [`jobs`]: names, topics (and which reply an incoming topic is), request payloads.
//! - [`job`]: the replies and the `afr_ota` job document, parsed into bounded types.
//! - [`table`]: the states and the transition table.
//! - [`Agent`]: the handlers, over the [`ports`] the firmware implements.
//! - [`loopback`]: the Jobs API of one job in memory, for a board without a network.
//!
//! References: the AWS IoT Jobs device MQTT API,
//! <https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html>; the OTA agent of
//! the `aws/ota-for-aws-iot-embedded-sdk` repository (`source/ota.c`, `source/ota_mqtt.c`,
//! `source/include/ota_platform_interface.h`); the FreeRTOS OTA user guide,
//! <https://docs.aws.amazon.com/freertos/latest/userguide/ota-update-library.html>.
//!
//! Memory: nothing is allocated after [`Agent::new`], which boxes the job record and the job
//! document once (about 3.5 KB, most of it the 2048-byte URL); the agent itself, without its
//! ports, is under 1 KB, and an [`Event`] is 40 bytes plus its buffer handle. Handling a job
//! document holds the parsed reply (about 3.4 KB) on the stack for the handler's duration;
//! with the handlers' own frames the agent's task wants about 8 KB of stack.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod agent;
pub mod base64;
mod event;
pub mod job;
pub mod jobs;
mod json;
pub mod loopback;
pub mod ports;
pub mod reason;
pub mod table;
pub mod version;

pub use agent::{Agent, Config, Outcome, Stats, Status, Stay, MAX_BLOCKS};
pub use event::{DownloadError, Event, EventKind, S3Code, Signal, S3_CODE_MAX};
pub use json::{JsonError, MAX_DEPTH};
pub use table::State;

#[cfg(test)]
mod tests;
