//! Links each C-SKY board's binary with its linker script (`ld/`), which includes the shared
//! section layout (`ld/xt804.ld`) from the same directory.

use std::env;
use std::path::PathBuf;

fn main() {
    let ld = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../ld");
    let boards = [
        ("CARGO_FEATURE_QEMU", "w800-qemu", "qemu-smartl.ld"),
        ("CARGO_FEATURE_W800", "w800", "w800.ld"),
    ];
    for (feature, bin, script) in boards {
        if env::var_os(feature).is_some() {
            let script = ld.join(script);
            println!("cargo:rustc-link-arg-bin={bin}=-T{}", script.display());
            println!("cargo:rustc-link-search=native={}", ld.display());
            println!("cargo:rerun-if-changed={}", script.display());
            println!("cargo:rerun-if-changed={}", ld.join("xt804.ld").display());
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
