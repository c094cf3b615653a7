//! libFuzzer's entry for the `jobs` target; the checks are in `w800_fuzz::jobs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    w800_fuzz::jobs::run(data);
});
