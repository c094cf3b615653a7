//! libFuzzer's entry for the `ptable` target; the checks are in `w800_fuzz::ptable`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    w800_fuzz::ptable::run(data);
});
