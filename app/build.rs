//! Links each C-SKY board's binary with its linker script (`ld/`), which includes the shared
//! section layout (`ld/xt804.ld`) from the same directory; sets the firmware's version; and
//! builds in the code-signing certificate that OTA files are checked against.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    link_scripts(&root.join("ld"));
    firmware_version();
    code_signing_certificate(&root);
    ota_settings(&root);
    device_credentials(&root);
    println!("cargo:rerun-if-changed=build.rs");
}

/// The firmware's version, `VERSION` in `src/lib.rs` (what the banner, `version` and the OTA
/// agent report, and what a factory-fresh sim flash writes into `app`'s header):
/// `W800_FIRMWARE_VERSION` when set, else the crate's version. Every board takes it the same
/// way, so two builds of one tree can be two firmware versions (the demo's 0.9.3 and 0.9.4).
/// It must fit the image header's `ver` field (at most 15 printable ASCII characters) and have
/// the shape the OTA agent orders versions by (`app/agent/src/version.rs`): an optional `v`,
/// dotted numbers, an optional `-` pre-release of dotted identifiers and an optional `+` build.
/// Anything else fails the build, not a later version comparison on the device.
fn firmware_version() {
    const VAR: &str = "W800_FIRMWARE_VERSION";
    println!("cargo:rerun-if-env-changed={VAR}");
    let version = match env::var(VAR) {
        Ok(version) => version,
        Err(env::VarError::NotPresent) => env::var("CARGO_PKG_VERSION").unwrap(),
        Err(env::VarError::NotUnicode(text)) => panic!("{VAR}={text:?}: not UTF-8"),
    };
    if let Err(why) = check_version(&version) {
        panic!("{VAR}={version:?}: {why}");
    }
    println!("cargo:rustc-env=W800_BUILT_VERSION={version}");
}

/// Why `version` cannot be a firmware version (see [`firmware_version`]).
fn check_version(version: &str) -> Result<(), String> {
    // The header's `ver` field: 16 bytes with a terminating NUL.
    const VER_MAX: usize = 15;
    if version.is_empty() || version.len() > VER_MAX {
        return Err(format!(
            "{} bytes long, the image header holds 1 to {VER_MAX}",
            version.len()
        ));
    }
    let identifiers = |text: &str| {
        text.split('.')
            .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    let text = version.strip_prefix(['v', 'V']).unwrap_or(version);
    let (text, build) = match text.split_once('+') {
        Some((text, build)) => (text, Some(build)),
        None => (text, None),
    };
    let (numbers, pre) = match text.split_once('-') {
        Some((numbers, pre)) => (numbers, Some(pre)),
        None => (text, None),
    };
    let numbers_ok = numbers
        .split('.')
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    if numbers_ok && pre.is_none_or(identifiers) && build.is_none_or(identifiers) {
        Ok(())
    } else {
        Err(String::from(
            "not a version the OTA agent can order (e.g. 1.2.3, v2.0, 1.0.0-rc.1)",
        ))
    }
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

/// The TLS credentials built in, for boards that hold them in the firmware: each file named
/// by its variable, else found in `certs/device/` (never committed: `*.key` is ignored):
///
/// | variable | file | what |
/// | --- | --- | --- |
/// | `W800_MQTT_CA` | `root-ca.pem` | the MQTT server's root (AWS: Amazon Root CA 1) |
/// | `W800_DEVICE_CERT` | `device.crt` | the thing's certificate |
/// | `W800_DEVICE_KEY` | `device.key` | its private key (RSA 2048 or EC P-256) |
/// | `W800_HTTPS_CA` | `https-ca.pem` | the file server's root, when it differs |
///
/// They go into `$OUT_DIR/credentials.rs` as `Option<TlsCredentials>`: `None` without a root.
fn device_credentials(root: &Path) {
    let dir = root.join("certs/device");
    println!("cargo:rerun-if-changed={}", root.join("certs").display());
    if dir.exists() {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let include = |var: &str, file: &str| -> Option<String> {
        println!("cargo:rerun-if-env-changed={var}");
        let path = env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.join(file));
        let mut pem = match fs::read(&path) {
            Ok(pem) => pem,
            Err(e) if env::var_os(var).is_some() => panic!("{var}={}: {e}", path.display()),
            Err(_) => return None,
        };
        println!("cargo:rerun-if-changed={}", path.display());
        // mbedTLS parses PEM with its terminating NUL.
        pem.push(0);
        fs::write(out.join(file), pem).unwrap();
        Some(format!(
            "include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{file}\"))"
        ))
    };
    let root_ca = include("W800_MQTT_CA", "root-ca.pem");
    let device = include("W800_DEVICE_CERT", "device.crt")
        .zip(include("W800_DEVICE_KEY", "device.key"))
        .map_or("None".to_owned(), |(cert, key)| {
            format!("Some(({cert}, {key}))")
        });
    let https = include("W800_HTTPS_CA", "https-ca.pem")
        .map_or("None".to_owned(), |ca| format!("Some({ca})"));
    let source = match root_ca {
        Some(root_ca) => format!(
            "Some(bsp::hal::TlsCredentials {{ root_ca: {root_ca}, device: {device}, https_root_ca: {https} }})"
        ),
        None => "None".to_owned(),
    };
    fs::write(out.join("credentials.rs"), source).unwrap();
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
