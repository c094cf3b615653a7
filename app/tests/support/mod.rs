//! Driving the sim firmware from tests: as a batch (all input at once, run to power-off) or
//! as a session (a line at a time, waiting for output).
// Each test binary uses a part of this.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The sim binary with `--flash`, as a power-on (no reset reason inherited).
pub fn sim(flash: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_w800-sim"));
    command
        .arg("--flash")
        .arg(flash)
        .env_remove("W800_SIM_RESET_REASON");
    command
}

/// A fresh directory for one test's files; returns the flash file's path in it.
pub fn temp_flash(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("w800-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("flash.bin")
}

/// The directory cargo builds into (that of the sim binary under test).
pub fn target_dir() -> PathBuf {
    // <target>/<triple>/<profile>/w800-sim
    Path::new(env!("CARGO_BIN_EXE_w800-sim"))
        .ancestors()
        .nth(3)
        .expect("the sim binary lies in <target>/<triple>/<profile>")
        .to_path_buf()
}

/// A real sim firmware of one version: the size-optimised executable (what `app` holds), its
/// `.img` and its xz `_ota.img`.
#[derive(Clone, Debug)]
pub struct Firmware {
    pub version: String,
    pub exe: PathBuf,
    pub img: PathBuf,
    pub ota: PathBuf,
}

impl Firmware {
    /// The executable's bytes.
    pub fn exe_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.exe).unwrap()
    }

    /// The executable as `app`'s body: padded with 0xFF to 4 bytes, as the packer does.
    pub fn body(&self) -> Vec<u8> {
        let mut body = self.exe_bytes();
        body.resize(body.len().next_multiple_of(4), 0xFF);
        body
    }
}

/// The sim firmware of `version`, built by `scripts/build sim` with `W800_FIRMWARE_VERSION`
/// (the size-optimised profile, from the tree under test) and kept in
/// `<target>/sim-firmware/<version>/`. Built once per test process; cargo makes a repeated
/// build of an unchanged tree a no-op.
pub fn sim_firmware(version: &str) -> Firmware {
    static BUILT: Mutex<Vec<Firmware>> = Mutex::new(Vec::new());
    // One build at a time: every version is built into the same place first.
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(firmware) = built.iter().find(|f| f.version == version) {
        return firmware.clone();
    }
    let target = target_dir();
    let out = Command::new(workspace().join("scripts/build"))
        .arg("sim")
        .env("W800_FIRMWARE_VERSION", version)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run scripts/build sim");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scripts/build sim ({version}) failed:\n{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        printed.contains(&format!("sim firmware {version}: ")),
        "scripts/build sim built another version:\n{printed}"
    );
    let built_exe = target.join("i686-unknown-linux-gnu/sim-image/w800-sim");
    let dir = target.join("sim-firmware").join(version);
    std::fs::create_dir_all(&dir).unwrap();
    let firmware = Firmware {
        version: version.to_owned(),
        exe: dir.join("w800-sim"),
        img: dir.join("w800-sim.img"),
        ota: dir.join("w800-sim_ota.img"),
    };
    for (from, to) in [
        (built_exe.clone(), &firmware.exe),
        (built_exe.with_extension("img"), &firmware.img),
        (
            target.join("i686-unknown-linux-gnu/sim-image/w800-sim_ota.img"),
            &firmware.ota,
        ),
    ] {
        std::fs::copy(&from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
    built.push(firmware.clone());
    firmware
}

/// `file` signed with `key` (ECDSA P-256, SHA-256, DER) by OpenSSL, in base64, as `ota verify`
/// takes it.
pub fn signature(dir: &Path, file: &[u8], key: &Path) -> String {
    let path = dir.join("signed.bin");
    std::fs::write(&path, file).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .arg(&path)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl dgst -sign failed");
    base64(&out.stdout)
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for group in bytes.chunks(3) {
        let word = group
            .iter()
            .enumerate()
            .fold(0u32, |w, (i, b)| w | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= group.len() {
                text.push(ALPHABET[(word >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                text.push('=');
            }
        }
    }
    text
}

/// Where `app_ota` starts in the flash file.
pub const APP_OTA: u64 = 0x13_1000;

/// A factory-fresh flash file (the sim makes it at its first power-on) with `file` written at
/// the start of `app_ota`, as QEMU's loader or a flash programmer puts it there.
pub fn flash_with_ota_file(name: &str, file: &[u8]) -> PathBuf {
    use std::os::unix::fs::FileExt;
    let flash = temp_flash(name);
    run_to_end(sim(&flash), "", Duration::from_secs(20));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&flash)
        .unwrap()
        .write_all_at(file, APP_OTA)
        .unwrap();
    flash
}

/// The `.img` and `_ota.img` of `binary` for `app` as version `version`, packed by the host
/// tool's library.
pub fn ota_image(binary: &[u8], version: &str) -> (Vec<u8>, Vec<u8>) {
    use bsp::format::image::Version;
    use bsp::format::ptable::PartitionTableRepr;
    use w800_tool::images::{self, OtaOverrides, PackSettings};
    let table = PartitionTableRepr::with_ota();
    let settings = PackSettings {
        table: table.clone(),
        partition: "app".into(),
        version: Version::new(version).unwrap(),
        upd_no: 0,
    };
    let img = images::pack(binary, &settings).unwrap();
    let ota = images::pack_ota(&img, &table, OtaOverrides::default()).unwrap();
    (img, ota)
}

/// A private test PKI (certs/make-pki) in `dir`.
pub fn make_pki(dir: &Path) -> PathBuf {
    make_pki_with_things(dir, &[])
}

/// A private test PKI in `dir` with a device identity `<thing>.crt`/`.key` (CN = the thing
/// name) for each of `things` besides the demo things'.
pub fn make_pki_with_things(dir: &Path, things: &[String]) -> PathBuf {
    let pki = dir.join("pki");
    let status = Command::new(workspace().join("certs/make-pki"))
        .arg("--out")
        .arg(&pki)
        .args(things.iter().flat_map(|thing| ["--thing", thing]))
        .stdout(Stdio::null())
        .status()
        .expect("run certs/make-pki");
    assert!(status.success(), "certs/make-pki failed");
    pki
}

/// Runs `command` (a sim) with `input` as its whole console input; the sim powers off at the
/// end of it and must exit 0 within `limit`. Returns what it printed.
pub fn run_to_end(mut command: Command, input: &str, limit: Duration) -> String {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the sim");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .expect("type the input");
    let mut stdout = child.stdout.take().unwrap();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        let _ = done.send(text);
    });
    let Ok(text) = finished.recv_timeout(limit) else {
        let _ = child.kill();
        panic!("the sim did not power off within {limit:?}");
    };
    let status = child.wait().expect("wait for the sim");
    assert!(status.success(), "sim exited with {status}:\n{text}");
    text
}

/// A sim driven line by line: send a command, wait for what it prints.
pub struct Session {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    seen: String,
}

impl Session {
    pub fn start(mut command: Command) -> Session {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the sim");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Session {
            child,
            stdin,
            lines,
            seen: String::new(),
        }
    }

    /// The sim's process id (it stays the same across the sim's restarts, which exec).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("type into the sim");
    }

    /// Everything printed so far (what has arrived is read first).
    pub fn printed(&mut self) -> &str {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push_str(&line);
            self.seen.push('\n');
        }
        &self.seen
    }

    /// Waits until a line containing `text` appears; returns it.
    pub fn expect(&mut self, text: &str, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no {text:?} within {wait:?}; the sim printed:\n{}",
                    self.seen
                ),
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private test network, removed on drop.
pub struct TestNet {
    pub name: String,
}

impl TestNet {
    pub fn up(tag: &str) -> TestNet {
        TestNet::up_with_taps(tag, 1)
    }

    /// A network with `taps` TAP devices on its bridge, one per sim ([`TestNet::tap`]).
    pub fn up_with_taps(tag: &str, taps: usize) -> TestNet {
        let name = format!("{tag}{}", std::process::id() % 100_000);
        let status = Command::new(workspace().join("scripts/testnet"))
            .args(["up", "--name", &name, "--taps", &taps.to_string()])
            .status()
            .expect("run scripts/testnet");
        assert!(
            status.success(),
            "scripts/testnet up failed (needs root and iproute2)"
        );
        TestNet { name }
    }

    /// The sim, inside the network, its radio on the network's TAP device.
    pub fn sim(&self, flash: &Path, extra: &[&str]) -> Command {
        self.sim_on(&TestNet::tap(0), flash, extra)
    }

    /// The name of TAP device `index` (from 0) that `scripts/testnet up --taps` makes.
    pub fn tap(index: usize) -> String {
        match index {
            0 => "w800tap".to_owned(),
            index => format!("w800tap{index}"),
        }
    }

    /// The sim, inside the network, its radio on TAP device `tap`.
    pub fn sim_on(&self, tap: &str, flash: &Path, extra: &[&str]) -> Command {
        let mut command = Command::new(workspace().join("scripts/testnet"));
        command
            .args(["exec", "--name", &self.name, "--"])
            .arg(env!("CARGO_BIN_EXE_w800-sim"))
            .arg("--flash")
            .arg(flash)
            .args(["--tap", tap])
            .args(extra)
            .env_remove("W800_SIM_RESET_REASON");
        command
    }

    /// Runs the sim inside the network with `input` as its console; returns its output.
    pub fn run_sim(&self, flash: &Path, extra: &[&str], input: &str) -> String {
        run_to_end(self.sim(flash, extra), input, Duration::from_secs(90))
    }
}

/// Runs a command inside the test network and returns its stdout.
pub fn in_net(net: &TestNet, program: &str, args: &[&str]) -> String {
    let out = Command::new(workspace().join("scripts/testnet"))
        .args(["exec", "--name", &net.name, "--", program])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let _ = Command::new(workspace().join("scripts/testnet"))
            .args(["down", "--name", &self.name])
            .status();
    }
}

/// The local cloud (`scripts/cloud`: broker, Jobs service, file server) of one test, inside
/// its test network, with its own run directory and PKI; stopped when dropped.
pub struct LocalCloud {
    net: String,
    dir: PathBuf,
    pki: PathBuf,
}

impl LocalCloud {
    /// Starts the cloud in `net` with its run directory `dir` and the PKI `pki`.
    pub fn up(net: &TestNet, dir: &Path, pki: &Path) -> LocalCloud {
        let cloud = LocalCloud {
            net: net.name.clone(),
            dir: dir.to_path_buf(),
            pki: pki.to_path_buf(),
        };
        cloud.run(&["up"]);
        cloud
    }

    fn command(&self) -> Command {
        let mut command = Command::new(workspace().join("scripts/cloud"));
        // The service `cargo test --workspace` built for its own tests: building it again from
        // here, while other test binaries run, would replace libraries under them.
        let built = target_dir().join("i686-unknown-linux-gnu/debug/cloud-svc");
        if built.exists() {
            command.env("CLOUD_SVC_BIN", built);
        }
        command
            .env("CLOUD_TESTNET", &self.net)
            .env("CLOUD_DIR", &self.dir)
            .env("CLOUD_PKI_DIR", &self.pki);
        command
    }

    /// Runs `scripts/cloud ARGS`; its standard output.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self
            .command()
            .args(args)
            .output()
            .expect("run scripts/cloud");
        assert!(
            out.status.success(),
            "scripts/cloud {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The service's log: the Jobs service's lines and the file server's request log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("cloud-svc.log")).unwrap_or_default()
    }
}

impl Drop for LocalCloud {
    fn drop(&mut self) {
        let _ = self.command().arg("down").output();
    }
}
