//! Links each C-SKY board's binary with its linker script (`ld/`), which includes the shared
//! section layout (`ld/xt804.ld`) from the same directory; and builds in the code-signing
//! certificate that OTA files are checked against.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    link_scripts(&root.join("ld"));
    code_signing_certificate(&root);
    ota_settings(&root);
    println!("cargo:rerun-if-changed=build.rs");
}

/// The certificate named by `W800_CODE_SIGNING_CERT`, else the test PKI's
/// (`certs/out/code-signing.crt`, from certs/make-pki) when there is one, goes into
/// `$OUT_DIR/code_signing.rs` as `Option<&[u8]>` (PEM with a NUL, as mbedTLS parses it).
/// Without one the firmware refuses every OTA file, and says why.
fn code_signing_certificate(root: &Path) {
    const VAR: &str = "W800_CODE_SIGNING_CERT";
    println!("cargo:rerun-if-env-changed={VAR}");
    let default = root.join("certs/out/code-signing.crt");
    // Watch the nearest thing that exists (cargo reruns a script whose watched path is
    // missing every time): the file, or the directory it will appear in.
    let watched = [default.clone(), root.join("certs/out"), root.join("certs")]
        .into_iter()
        .find(|path| path.exists());
    if let Some(path) = watched {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let path = env::var_os(VAR).map(PathBuf::from).unwrap_or(default);
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let source = match fs::read(&path) {
        Ok(mut pem) => {
            pem.push(0);
            fs::write(out.join("code-signing.pem"), pem).unwrap();
            "Some(include_bytes!(concat!(env!(\"OUT_DIR\"), \"/code-signing.pem\")))"
        }
        Err(e) if env::var_os(VAR).is_some() => {
            panic!("{VAR}={}: {e}", path.display())
        }
        Err(_) => "None",
    };
    fs::write(out.join("code_signing.rs"), source).unwrap();
}

/// The OTA agent's settings text (`src/settings.rs`): `W800_OTA_CONFIG`, else
/// `certs/ota.conf` when it exists, else empty (the local cloud's defaults), into
/// `$OUT_DIR/ota.conf`. The firmware parses it; a mistake shows at `aws_ota`.
fn ota_settings(root: &Path) {
    const VAR: &str = "W800_OTA_CONFIG";
    println!("cargo:rerun-if-env-changed={VAR}");
    let default = root.join("certs/ota.conf");
    if let Some(path) = [default.clone(), root.join("certs")]
        .into_iter()
        .find(|path| path.exists())
    {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let text = match env::var_os(VAR) {
        Some(path) => fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{VAR}={}: {e}", PathBuf::from(&path).display())),
        None => fs::read_to_string(&default).unwrap_or_default(),
    };
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    fs::write(out.join("ota.conf"), text).unwrap();
}

fn link_scripts(ld: &Path) {
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
}
