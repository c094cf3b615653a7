//! Networking for the W800 firmware. The protocol codecs will be pure `no_std` code without
//! FFI; lwIP and mbedTLS glue lives beside them. Filled by the network issue.
#![no_std]
#![forbid(unsafe_code)]
