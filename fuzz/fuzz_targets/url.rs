//! libFuzzer's entry for the `url` target; the checks are in `w800_fuzz::url`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    w800_fuzz::url::run(data);
});
