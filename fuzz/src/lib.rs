//! The fuzz targets' checks, one module per parser (docs/fuzzing.md).
//!
//! Each module's `run` takes any bytes, drives its parser with them and asserts the parser's
//! contract: it never panics (a panic is what libFuzzer reports as a crash), what it accepts
//! emits back to the same bytes where the format promises that, and what it accepts parses the
//! same again. `run` returns whether the parser accepted the input, so that the tests can tell
//! that each seed corpus still reaches past the first check.
//!
//! The libFuzzer binaries in `fuzz_targets/` only call `run` (feature `libfuzzer`, built by
//! scripts/fuzz with coverage instrumentation); `cargo test` replays every seed and every kept
//! crash input through the same functions.

pub mod http;
pub mod image;
pub mod jobs;
pub mod mqtt;
pub mod peer;
pub mod ptable;
pub mod record;
pub mod url;
pub mod xz;

/// A target's checks: any input in, whether its parser accepted it out.
pub type Check = fn(&[u8]) -> bool;

/// The targets, by the names of their binaries and corpus folders, with their checks.
pub const TARGETS: [(&str, Check); 8] = [
    ("jobs", jobs::run),
    ("mqtt", mqtt::run),
    ("http", http::run),
    ("url", url::run),
    ("image", image::run),
    ("ptable", ptable::run),
    ("record", record::run),
    ("xz", xz::run),
];
