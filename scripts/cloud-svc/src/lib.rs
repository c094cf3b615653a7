//! A local stand-in for AWS IoT, for the W800 OTA tests and demo on a machine with no AWS
//! account: the AWS IoT Jobs device MQTT API (spoken through a real mosquitto broker), an
//! S3-style HTTPS file server with SigV4 presigned URLs, and OTA job creation.

pub mod args;
pub mod control;
pub mod faults;
pub mod files;
pub mod jobs;
pub mod mqtt;
pub mod ota;
pub mod presign;
pub mod service;
pub mod storage;
pub mod tls;
