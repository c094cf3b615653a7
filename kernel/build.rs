//! Builds FreeRTOS V11.2.0 from the sources the `freertos-next` crate ships (its build script
//! exports their path as `DEP_FREERTOS_KERNEL`), with our configuration, the port for the
//! target, heap_4, the crate's C shim and our glue.
//!
//! Targets: i686 Linux (the sim, FreeRTOS's POSIX port) and bare-metal C-SKY (the qemu and
//! w800 boards, our port in `port/csky`, built with the C-SKY GCC that `CC_<target>` names;
//! see scripts/lib/csky.sh).

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[path = "src/port/layout.rs"]
mod layout;

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
        (_, "csky") => (manifest.join("port/csky"), manifest.join("config/csky")),
        (os, arch) => panic!(
            "no FreeRTOS port for target_os={os} target_arch={arch}: the sim builds for \
             i686-unknown-linux-gnu, the C-SKY boards for targets/csky-none-elfabiv2.json"
        ),
    };

    let mut build = cc::Build::new();
    build
        .include(kernel.join("include"))
        .include(&port)
        .include(&config)
        .define("_GNU_SOURCE", None)
        .warnings(false);
    // The C-SKY port's headers include one generated here (`port_layout.h`).
    let generated = PathBuf::from(env::var("OUT_DIR").unwrap()).join("port");
    if target_arch == "csky" {
        std::fs::create_dir_all(&generated).expect("create the generated port directory");
        write_port_layout(&generated.join("port_layout.h"));
        // The W800's core, hard-float ABI: the same flags the vendor SDK builds with, so the
        // objects link with rustc's (the target JSON) and with the SDK's libraries.
        build
            .include(&generated)
            .pic(false)
            .flag("-mcpu=ck804ef")
            .flag("-mhard-float")
            .flag("-mfloat-abi=hard")
            .file(port.join("portasm.S"));
        println!("cargo:rerun-if-changed=src/port/layout.rs");
        println!("cargo:rerun-if-changed={}", port.display());
    }
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

    // Crates that compile C against FreeRTOS (lwIP's sys_arch) find the headers through
    // `DEP_W800_KERNEL_INCLUDE`, in this order.
    let mut include = vec![kernel.join("include"), port.clone(), config.clone()];
    if target_arch == "csky" {
        include.push(generated);
    }
    let include: Vec<String> = include.iter().map(|p| p.display().to_string()).collect();
    println!("cargo:include={}", include.join(";"));

    if target_os == "linux" {
        println!("cargo:rustc-link-lib=pthread");
    }
    println!("cargo:rerun-if-changed=src/glue.c");
    println!(
        "cargo:rerun-if-changed={}",
        config.join("FreeRTOSConfig.h").display()
    );
    println!("cargo:rerun-if-changed=config/common.h");
}

/// Writes the port's shared numbers (`src/port/layout.rs`) as C/assembler defines.
fn write_port_layout(path: &Path) {
    use layout::{frame, irq_frame};
    let defines = [
        ("PORT_PSR_S", layout::PSR_S),
        ("PORT_PSR_EE", layout::PSR_EE),
        ("PORT_PSR_IE", layout::PSR_IE),
        ("PORT_TASK_PSR", layout::TASK_PSR),
        ("PORT_SWITCH_VECTOR", layout::SWITCH_VECTOR),
        ("PORT_FIRST_IRQ_VECTOR", layout::FIRST_IRQ_VECTOR),
        ("PORT_VIC_TSPEND", layout::VIC_TSPEND),
        ("PORT_VIC_TSPR", layout::VIC_TSPR),
        ("PORT_TSPR_LOWEST", layout::TSPR_LOWEST),
        ("PORT_FRAME_R0", frame::R0),
        ("PORT_FRAME_R15", frame::R15),
        ("PORT_FRAME_R16", frame::R16),
        ("PORT_FRAME_EPSR", frame::EPSR),
        ("PORT_FRAME_EPC", frame::EPC),
        ("PORT_FRAME_FCR", frame::FCR),
        ("PORT_FRAME_FESR", frame::FESR),
        ("PORT_FRAME_FR0", frame::FR0),
        ("PORT_FRAME_SIZE_HARD_FLOAT", frame::SIZE_HARD_FLOAT),
        ("PORT_FRAME_SIZE_SOFT_FLOAT", frame::SIZE_SOFT_FLOAT),
        ("PORT_IRQ_FRAME_R0", irq_frame::R0),
        ("PORT_IRQ_FRAME_R12", irq_frame::R12),
        ("PORT_IRQ_FRAME_R15", irq_frame::R15),
        ("PORT_IRQ_FRAME_R18", irq_frame::R18),
        ("PORT_IRQ_FRAME_FCR", irq_frame::FCR),
        ("PORT_IRQ_FRAME_FESR", irq_frame::FESR),
        ("PORT_IRQ_FRAME_FR0", irq_frame::FR0),
        ("PORT_IRQ_FRAME_SIZE_HARD_FLOAT", irq_frame::SIZE_HARD_FLOAT),
        ("PORT_IRQ_FRAME_SIZE_SOFT_FLOAT", irq_frame::SIZE_SOFT_FLOAT),
    ];
    let mut text = String::from(
        "/* Generated by kernel/build.rs from kernel/src/port/layout.rs: edit that instead. */\n\
         #ifndef PORT_LAYOUT_H\n#define PORT_LAYOUT_H\n",
    );
    for (name, value) in defines {
        let _ = writeln!(text, "#define {name} 0x{value:X}");
    }
    text.push_str("#endif\n");
    std::fs::write(path, text).expect("write port_layout.h");
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
