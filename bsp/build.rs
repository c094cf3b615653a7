//! Builds the C-SKY startup (`src/xt804/startup.S`) when building for a C-SKY board, with the
//! C-SKY GCC that `CC_<target>` names (scripts/lib/csky.sh), for the W800's core and float ABI.

use std::env;

fn main() {
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("csky") {
        cc::Build::new()
            .file("src/xt804/startup.S")
            .pic(false)
            .flag("-mcpu=ck804ef")
            .flag("-mhard-float")
            .flag("-mfloat-abi=hard")
            .compile("xt804_startup");
        println!("cargo:rerun-if-changed=src/xt804/startup.S");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
