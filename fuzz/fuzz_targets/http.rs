//! libFuzzer's entry for the `http` target; the checks are in `w800_fuzz::http`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    w800_fuzz::http::run(data);
});
