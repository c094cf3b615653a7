//! libFuzzer's entry for the `image` target; the checks are in `w800_fuzz::image`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    w800_fuzz::image::run(data);
});
