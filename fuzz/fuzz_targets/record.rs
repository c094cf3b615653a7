//! libFuzzer's entry for the `record` target; the checks are in `w800_fuzz::record`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    w800_fuzz::record::run(data);
});
