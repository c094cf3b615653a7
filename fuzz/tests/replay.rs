//! Every seed and every kept crash input, through its target's checks: the regression tests
//! of the fuzzing, run by `cargo test` without libFuzzer.

use std::fs;
use std::path::Path;

/// The files in `fuzz/<kind>/<target>/`, with their names (none if the folder is missing).
fn inputs(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(kind)
        .join(target);
    let Ok(entries) = fs::read_dir(&folder) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|entry| entry.expect("a readable folder").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).expect("a readable file"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_seed_passes_its_checks_and_some_reach_past_the_parser() {
    for (target, run) in w800_fuzz::TARGETS {
        let seeds = inputs("corpus", target);
        let accepted = seeds.iter().filter(|(_, bytes)| run(bytes)).count();
        assert!(
            accepted > 0,
            "{target}: none of the {} seeds parses, so the fuzzer starts at the first check",
            seeds.len()
        );
    }
}

#[test]
fn every_kept_crash_input_passes_its_checks() {
    for (target, run) in w800_fuzz::TARGETS {
        for (name, bytes) in inputs("regressions", target) {
            println!("{target}/{name}");
            run(&bytes);
        }
    }
}
