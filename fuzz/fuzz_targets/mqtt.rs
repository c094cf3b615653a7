//! libFuzzer's entry for the `mqtt` target; the checks are in `w800_fuzz::mqtt`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    w800_fuzz::mqtt::run(data);
});
