//! Compiles lwIP 2.1.3 from the tree the setup step unpacked from Debian's source package
//! (`LWIP_SRC`, default `<workspace>/.cache/lwip-2.1.3`), with our options, sys_arch and glue.

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let lwip = env::var_os("LWIP_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../.cache/lwip-2.1.3"));
    println!("cargo:rerun-if-env-changed=LWIP_SRC");
    if !lwip.join("src/core/tcp.c").is_file() {
        panic!(
            "lwIP sources not found in {}: run scripts/setup (it unpacks Debian's lwip 2.1.3 \
             source package there) or set LWIP_SRC",
            lwip.display()
        );
    }
    let src = lwip.join("src");
    let kernel_include =
        env::var("DEP_W800_KERNEL_INCLUDE").expect("the kernel crate exports its includes");

    let mut build = cc::Build::new();
    build
        .include(manifest.join("port/include"))
        .include(src.join("include"));
    for dir in kernel_include.split(';') {
        build.include(dir);
    }
    build.define("_GNU_SOURCE", None).warnings(false);
    let dirs = [src.join("core"), src.join("core/ipv4"), src.join("api")];
    for dir in &dirs {
        for file in c_files(dir) {
            build.file(file);
        }
    }
    build
        .file(src.join("netif/ethernet.c"))
        .file(src.join("apps/sntp/sntp.c"))
        .file(manifest.join("port/sys_arch.c"))
        .file(manifest.join("port/glue.c"));
    build.compile("lwip");

    for file in ["port/sys_arch.c", "port/glue.c", "port/include/lwipopts.h"] {
        println!("cargo:rerun-if-changed={file}");
    }
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
