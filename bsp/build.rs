//! Builds the C-SKY assembly when building for a C-SKY board, with the C-SKY GCC that
//! `CC_<target>` names (scripts/lib/csky.sh), for the W800's core and float ABI: the startup
//! (`src/xt804/startup.S`) for every board, the interrupt masking of the flash driver
//! (`src/w800/irq.S`) for the W800.
//!
//! With the `wm-iot-sdk` feature it also checks and links the vendor SDK's Wi-Fi station
//! (docs/w800-wifi.md), and stops the build with what is missing when it cannot.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let csky = env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("csky");
    if csky {
        let mut files = vec!["src/xt804/startup.S"];
        if env::var_os("CARGO_FEATURE_W800").is_some() {
            files.push("src/w800/irq.S");
        }
        cpu_flags(cc::Build::new().files(&files)).compile("xt804_startup");
        for file in files {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    if env::var_os("CARGO_FEATURE_WM_IOT_SDK").is_some() {
        if let Err(problems) = wm_iot_sdk(csky) {
            for line in problems.lines() {
                println!("cargo::error={line}");
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// The W800 core's flags.
fn cpu_flags(build: &mut cc::Build) -> &mut cc::Build {
    build
        .pic(false)
        .flag("-mcpu=ck804ef")
        .flag("-mhard-float")
        .flag("-mfloat-abi=hard")
}

/// The SDK versions the prebuilt Wi-Fi libraries were built against (docs/w800-wifi.md):
/// (file, macro(s) joined by dots, version).
const VERSIONS: [(&str, &[&str], &str); 3] = [
    (
        "components/freertos/include/freertos/task.h",
        &["tskKERNEL_VERSION_NUMBER"],
        "V10.4.1",
    ),
    (
        "components/mbedtls/src/include/mbedtls/build_info.h",
        &["MBEDTLS_VERSION_STRING"],
        "3.4.0",
    ),
    (
        "components/lwip/src/include/lwip/init.h",
        &[
            "LWIP_VERSION_MAJOR",
            "LWIP_VERSION_MINOR",
            "LWIP_VERSION_REVISION",
        ],
        "2.1.3",
    ),
];

/// The prebuilt Wi-Fi libraries (MAC, supplicant, RF, OS adaptation), in the SDK.
const RADIO_DIR: &str = "components/wm_soc/w80x/lib";
const RADIO_LIBS: [&str; 4] = ["macsw", "wpas", "rf", "osal"];
/// The SDK components of the station and its netif, compiled by the user's SDK build.
const STATION_COMPONENTS: [&str; 5] = [
    "wm_net_manager",
    "wm_netif_mgr",
    "wm_wifi",
    "wpa_supplicant",
    "wm_event",
];
/// Include directories the SDK's headers need besides every `components/*/include`.
const EXTRA_INCLUDES: [&str; 8] = [
    "components/lwip/port",
    "components/lwip/src/include",
    "components/freertos/include/freertos",
    "components/freertos/port/w80x/include",
    "components/freertos/port/w80x/include/freertos",
    "components/wm_soc/w80x/include",
    "components/mbedtls/src/include",
    "components/xt804/include/csi_core",
];
const HELP: &str = "see docs/w800-wifi.md, \"Building with the SDK\"";

/// Checks the SDK and its build, then (for the chip) checks the FFI against them and links.
fn wm_iot_sdk(csky: bool) -> Result<(), String> {
    println!("cargo:rerun-if-env-changed=WM_IOT_SDK");
    println!("cargo:rerun-if-env-changed=WM_IOT_SDK_BUILD");
    println!("cargo:rerun-if-changed=src/w800/sdk_abi.c");
    let sdk = env_dir(
        "WM_IOT_SDK",
        "a checkout of https://github.com/winnermicro/wm_iot_sdk with its Git LFS files",
    )?;
    let build = env_dir(
        "WM_IOT_SDK_BUILD",
        "the build directory of an SDK project with the Wi-Fi station and the network manager on",
    )?;

    let mut problems = Vec::new();
    for (file, macros, expected) in VERSIONS {
        match version(&sdk.join(file), macros) {
            Some(found) if found == expected => {}
            Some(found) => problems.push(format!(
                "{}: {found}, but the prebuilt Wi-Fi libraries need {expected}",
                sdk.join(file).display()
            )),
            None => problems.push(format!(
                "{}: no {} (is WM_IOT_SDK the SDK?)",
                sdk.join(file).display(),
                macros.join("/")
            )),
        }
    }
    for lib in RADIO_LIBS {
        let path = sdk.join(RADIO_DIR).join(format!("lib{lib}.a"));
        match fs::read(&path).ok().filter(|b| b.starts_with(b"!<arch>\n")) {
            Some(_) => {}
            None => problems.push(format!(
                "{}: missing, or not an archive (a Git LFS pointer? run `git lfs pull` in the SDK)",
                path.display()
            )),
        }
    }
    let config = build.join("config/wmsdk_config.h");
    if !config.is_file() {
        problems.push(format!(
            "{}: missing (WM_IOT_SDK_BUILD must be a configured SDK build)",
            config.display()
        ));
    }
    let mut found = Vec::new();
    for component in STATION_COMPONENTS {
        match find_file(&build, &format!("lib{component}.a"), 6) {
            Some(path) => found.push((component, path)),
            None => problems.push(format!(
                "{}: no lib{component}.a (build an SDK project with the Wi-Fi station and the \
                 network manager enabled)",
                build.display()
            )),
        }
    }
    if !problems.is_empty() {
        problems.push(HELP.to_string());
        return Err(problems.join("\n"));
    }

    if csky {
        check_abi(&sdk, &build)?;
        println!(
            "cargo:rustc-link-search=native={}",
            sdk.join(RADIO_DIR).display()
        );
        for (component, path) in &found {
            if let Some(dir) = path.parent() {
                println!("cargo:rustc-link-search=native={}", dir.display());
            }
            println!("cargo:rustc-link-lib=static:-bundle={component}");
        }
        for lib in RADIO_LIBS {
            println!("cargo:rustc-link-lib=static:-bundle={lib}");
        }
    }
    Ok(())
}

/// The directory an environment variable names.
fn env_dir(name: &str, what: &str) -> Result<PathBuf, String> {
    match env::var_os(name).map(PathBuf::from) {
        Some(dir) if dir.is_dir() => Ok(dir),
        Some(dir) => Err(format!(
            "the wm-iot-sdk feature: {name}={} is not a directory\n{HELP}",
            dir.display()
        )),
        None => Err(format!(
            "the wm-iot-sdk feature links the W800's Wi-Fi from WinnerMicro's SDK: set {name} to \
             {what}\n{HELP}"
        )),
    }
}

/// The values of `macros` (`#define NAME value`) in `file`, quotes removed, joined by dots.
fn version(file: &Path, macros: &[&str]) -> Option<String> {
    let text = fs::read_to_string(file).ok()?;
    let value = |name: &str| {
        text.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("#define") && words.next() == Some(name))
                .then(|| words.next().map(|v| v.trim_matches('"').to_string()))
                .flatten()
        })
    };
    let parts: Option<Vec<String>> = macros.iter().map(|m| value(m)).collect();
    Some(parts?.join("."))
}

/// The first file called `name` under `dir`, at most `depth` levels down.
fn find_file(dir: &Path, name: &str, depth: u32) -> Option<PathBuf> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    if let Some(file) = entries.iter().find(|p| p.is_file() && p.ends_with(name)) {
        return Some(file.clone());
    }
    if depth == 0 {
        return None;
    }
    entries
        .iter()
        .filter(|p| p.is_dir())
        .find_map(|p| find_file(p, name, depth - 1))
}

/// Compiles `src/w800/sdk_abi.c` against the SDK's headers and the build's configuration:
/// the FFI in `src/w800/sdk.rs` must match them. It only checks; nothing of it is linked.
fn check_abi(sdk: &Path, build: &Path) -> Result<(), String> {
    let mut cc = cc::Build::new();
    cpu_flags(&mut cc)
        .file("src/w800/sdk_abi.c")
        .include(build.join("config"))
        .flag("-Werror=incompatible-pointer-types")
        .cargo_metadata(false)
        .cargo_warnings(false);
    let mut includes: Vec<PathBuf> = fs::read_dir(sdk.join("components"))
        .map_err(|e| format!("{}: {e}", sdk.join("components").display()))?
        .flatten()
        .map(|e| e.path().join("include"))
        .filter(|p| p.is_dir())
        .collect();
    includes.sort();
    includes.extend(EXTRA_INCLUDES.iter().map(|d| sdk.join(d)));
    cc.includes(includes);
    cc.try_compile("wm_iot_sdk_abi").map_err(|e| {
        format!("src/w800/sdk_abi.c does not compile against the SDK: src/w800/sdk.rs does not match it\n{e}\n{HELP}")
    })
}
