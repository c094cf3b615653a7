//! libFuzzer's entry for the `xz` target; the checks are in `w800_fuzz::xz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    w800_fuzz::xz::run(data);
});
