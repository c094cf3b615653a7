//! Builds FreeRTOS V11.2.0 from the sources the `freertos-next` crate ships (its build script
//! exports their path as `DEP_FREERTOS_KERNEL`), with our configuration, the port for the
//! target, heap_4, the crate's C shim and our glue.

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    let kernel =
        PathBuf::from(env::var("DEP_FREERTOS_KERNEL").expect("freertos-next exports KERNEL"));
    let shim = PathBuf::from(env::var("DEP_FREERTOS_SHIM").expect("freertos-next exports SHIM"));
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();

    let (port, config) = match (target_os.as_str(), target_arch.as_str()) {
        ("linux", "x86") => (
            kernel.join("portable/ThirdParty/GCC/Posix"),
            manifest.join("config/sim"),
        ),
        (os, arch) => panic!(
            "no FreeRTOS port for target_os={os} target_arch={arch}: the sim builds for \
             i686-unknown-linux-gnu"
        ),
    };

    let mut build = cc::Build::new();
    build
        .include(kernel.join("include"))
        .include(&port)
        .include(&config)
        .define("_GNU_SOURCE", None)
        .warnings(false);
    for file in c_files(&kernel) {
        build.file(file);
    }
    for file in c_files(&port)
        .into_iter()
        .chain(c_files(&port.join("utils")))
    {
        build.file(file);
    }
    build.file(kernel.join("portable/MemMang/heap_4.c"));
    build.file(shim.join("shim.c"));
    build.file(manifest.join("src/glue.c"));
    build.compile("freertos");

    if target_os == "linux" {
        println!("cargo:rustc-link-lib=pthread");
    }
    println!("cargo:rerun-if-changed=src/glue.c");
    println!(
        "cargo:rerun-if-changed={}",
        config.join("FreeRTOSConfig.h").display()
    );
}

fn c_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "c"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
