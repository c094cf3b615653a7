//! `w800-tool flash` against a simulated W800 ROM on a pseudo-terminal: the tool opens the
//! terminal side as it would a USB serial adapter; a thread plays the ROM on the other side
//! (docs/flashing.md, "The serial download"): 'C' prompts after ESC, the commands with their
//! CRC checked, XMODEM-1K blocks checked and answered as each test scripts it.

mod common;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bsp::format::image::Version;
use bsp::format::ptable::PartitionTableRepr;
use tempfile::TempDir;
use w800_tool::crc16::{crc16, CCITT_FALSE_INIT, XMODEM_INIT};
use w800_tool::images;
use w800_tool::rom::{self, Baud};
use w800_tool::xmodem;

/// A pseudo-terminal: the ROM's end, the tool's end (kept open so that the ROM's end never
/// hangs up), and the tool's end's path.
fn pty() -> (File, File, PathBuf) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors into the two integers; the name, termios and
    // window-size pointers may be null.
    let result = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(result, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened by openpty and are owned by nothing else.
    let (master, slave) = unsafe { (File::from_raw_fd(master), File::from_raw_fd(slave)) };
    // SAFETY: termios is plain old data; tcgetattr fills it, cfmakeraw and tcsetattr read it,
    // all on the open descriptor.
    unsafe {
        let mut attributes: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(slave.as_raw_fd(), &mut attributes), 0);
        libc::cfmakeraw(&mut attributes);
        assert_eq!(
            libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &attributes),
            0
        );
    }
    let path = fs::read_link(format!("/proc/self/fd/{}", slave.as_raw_fd())).unwrap();
    (master, slave, path)
}

/// How the simulated ROM misbehaves.
#[derive(Debug, Clone, Copy, Default)]
struct Script {
    /// Refuse (NAK) the first copy of this block number.
    nak_once: Option<u8>,
    /// Stop answering after this many acknowledged blocks.
    silent_after: Option<usize>,
    /// Answer the block after this many acknowledged ones with this byte.
    wrong_answer: Option<(usize, u8)>,
    /// Never prompt at all (no ROM there).
    absent: bool,
}

/// What the simulated ROM saw.
#[derive(Debug, Default)]
struct Seen {
    escapes: usize,
    commands: Vec<Vec<u8>>,
    frames: Vec<Vec<u8>>,
    data: Vec<u8>,
    eots: usize,
    cancels: usize,
    problems: Vec<String>,
}

fn read_byte(port: &mut File, timeout: Duration) -> Option<u8> {
    let mut poll = libc::pollfd {
        fd: port.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = timeout.as_millis() as libc::c_int;
    // SAFETY: one valid pollfd for the duration of the call.
    if unsafe { libc::poll(&mut poll, 1, millis) } <= 0 || poll.revents & libc::POLLIN == 0 {
        return None;
    }
    let mut byte = [0u8];
    match port.read(&mut byte) {
        Ok(1) => Some(byte[0]),
        _ => None,
    }
}

fn read_exact(port: &mut File, len: usize) -> Option<Vec<u8>> {
    (0..len)
        .map(|_| read_byte(port, Duration::from_secs(2)))
        .collect()
}

/// Plays the ROM on `port` until `done`.
fn rom(mut port: File, script: Script, done: Arc<AtomicBool>) -> Seen {
    let mut seen = Seen::default();
    let (mut prompting, mut silent, mut nak_done) = (false, false, false);
    let mut next_block: u8 = 1;
    while !done.load(Ordering::Relaxed) {
        let Some(byte) = read_byte(&mut port, Duration::from_millis(5)) else {
            if prompting && !silent && !script.absent {
                port.write_all(b"C").unwrap();
            }
            continue;
        };
        match byte {
            0x1B => {
                seen.escapes += 1;
                prompting = true;
            }
            rom::COMMAND_START => {
                let Some(len) = read_exact(&mut port, 2) else {
                    break;
                };
                let len = u16::from_le_bytes([len[0], len[1]]) as usize;
                let Some(body) = read_exact(&mut port, len) else {
                    break;
                };
                let crc = u16::from_le_bytes([body[0], body[1]]);
                if crc16(CCITT_FALSE_INIT, &body[2..]) != crc {
                    seen.problems.push(format!("command CRC: {body:02x?}"));
                }
                let mut command = vec![rom::COMMAND_START];
                command.extend_from_slice(&(len as u16).to_le_bytes());
                command.extend_from_slice(&body);
                seen.commands.push(command);
            }
            xmodem::STX => {
                prompting = false;
                let Some(rest) = read_exact(&mut port, xmodem::FRAME_LEN - 1) else {
                    break;
                };
                let mut frame = vec![xmodem::STX];
                frame.extend_from_slice(&rest);
                let acked = seen.data.len() / xmodem::BLOCK_LEN;
                if frame[1] != next_block || frame[2] != !next_block {
                    seen.problems
                        .push(format!("block number {} for {next_block}", frame[1]));
                }
                if crc16(XMODEM_INIT, &frame[3..]) != 0 {
                    seen.problems.push(format!("CRC of block {}", frame[1]));
                }
                seen.frames.push(frame.clone());
                if silent || script.silent_after == Some(acked) {
                    silent = true;
                } else if let Some((_, answer)) =
                    script.wrong_answer.filter(|(after, _)| *after == acked)
                {
                    port.write_all(&[answer]).unwrap();
                } else if script.nak_once == Some(frame[1]) && !nak_done {
                    nak_done = true;
                    port.write_all(&[xmodem::NAK]).unwrap();
                } else {
                    seen.data
                        .extend_from_slice(&frame[3..3 + xmodem::BLOCK_LEN]);
                    next_block = next_block.wrapping_add(1);
                    port.write_all(&[xmodem::ACK]).unwrap();
                }
            }
            xmodem::EOT => {
                seen.eots += 1;
                port.write_all(&[xmodem::ACK]).unwrap();
                prompting = true;
            }
            xmodem::CAN => seen.cancels += 1,
            _ => {}
        }
    }
    seen
}

/// Runs `w800-tool flash --port <pty> args...` against a ROM playing `script`.
fn flash(script: Script, args: &[&str]) -> (Output, Seen, Duration) {
    let (master, _slave, path) = pty();
    let done = Arc::new(AtomicBool::new(false));
    let rom_done = Arc::clone(&done);
    let rom = thread::spawn(move || rom(master, script, rom_done));
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_w800-tool"))
        .arg("flash")
        .arg("--port")
        .arg(&path)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tool runs");
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("w800-tool flash still runs after 60 s");
        }
        thread::sleep(Duration::from_millis(20));
    }
    let elapsed = start.elapsed();
    let output = child.wait_with_output().unwrap();
    done.store(true, Ordering::Relaxed);
    (output, rom.join().unwrap(), elapsed)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An .fls of an app image of `len` bytes, written into `dir`.
fn fls_file(dir: &TempDir, len: usize) -> (PathBuf, Vec<u8>) {
    let table = PartitionTableRepr::with_ota();
    let settings = images::PackSettings {
        table: table.clone(),
        partition: "app".to_owned(),
        version: Version::new("0.1.0").unwrap(),
        upd_no: 0,
    };
    let img = images::pack(&common::code(7, len), &settings).unwrap();
    let fls = images::pack_fls(&img, &table, None).unwrap();
    let path = dir.path().join("w800.fls");
    fs::write(&path, &fls).unwrap();
    (path, fls)
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_full_transfer_at_a_switched_rate() {
    let dir = TempDir::new().unwrap();
    let (file, fls) = fls_file(&dir, 20_000);
    let (output, seen, _) = flash(
        Script::default(),
        &["--baud", "921600", "--timeout", "20", arg(&file)],
    );
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}\nseen: {seen:?}");
    assert!(seen.problems.is_empty(), "{:?}", seen.problems);
    assert!(seen.escapes >= 1);
    assert_eq!(
        seen.commands,
        vec![Baud::B921600.command(), rom::reboot_command()]
    );
    assert_eq!(seen.frames.len(), xmodem::block_count(fls.len()));
    assert_eq!(&seen.data[..fls.len()], &fls[..]);
    assert!(seen.data[fls.len()..]
        .iter()
        .all(|&byte| byte == xmodem::PAD));
    assert_eq!(seen.eots, 1);
    assert_eq!(seen.cancels, 0);
    assert!(stderr.contains("switched to 921600 baud"), "{stderr}");
    assert!(stderr.contains("100% 21/21 KiB"), "{stderr}");
    assert!(text(&output.stdout).starts_with(&format!("flashed 1 file(s), {} bytes", fls.len())));
}

#[test]
fn a_rom_that_stops_answering_is_a_timeout() {
    let dir = TempDir::new().unwrap();
    let (file, _) = fls_file(&dir, 20_000);
    let script = Script {
        silent_after: Some(2),
        ..Script::default()
    };
    let (output, seen, elapsed) = flash(
        script,
        &["--reset", "manual", "--baud", "115200", arg(&file)],
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("block 3 (bytes 0x800..0xc00): no answer within 1 s"),
        "{stderr}"
    );
    assert_eq!(seen.frames.len(), 3);
    assert_eq!(seen.cancels, 2, "the transfer is cancelled");
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
}

#[test]
fn a_refused_block_is_sent_again() {
    let dir = TempDir::new().unwrap();
    let (file, fls) = fls_file(&dir, 20_000);
    let script = Script {
        nak_once: Some(3),
        ..Script::default()
    };
    let (output, seen, _) = flash(
        script,
        &[
            "--reset",
            "manual",
            "--baud",
            "115200",
            "--no-reboot",
            arg(&file),
        ],
    );
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert!(seen.problems.is_empty(), "{:?}", seen.problems);
    assert_eq!(seen.frames.len(), xmodem::block_count(fls.len()) + 1);
    assert_eq!(seen.frames[2], seen.frames[3], "block 3 again, unchanged");
    assert_eq!(&seen.data[..fls.len()], &fls[..]);
    assert!(
        seen.commands.is_empty(),
        "no baud switch, no reboot: {:?}",
        seen.commands
    );
}

#[test]
fn a_wrong_answer_ends_the_transfer_with_its_meaning() {
    let dir = TempDir::new().unwrap();
    let (file, _) = fls_file(&dir, 3_000);
    let script = Script {
        wrong_answer: Some((0, b'L')),
        ..Script::default()
    };
    let (output, seen, _) = flash(
        script,
        &["--reset", "manual", "--baud", "115200", arg(&file)],
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("block 1 (bytes 0x0..0x400): the device answered 'L' (0x4c), the ROM's \"image header check failed\" instead of ACK or NAK"),
        "{stderr}"
    );
    assert_eq!(seen.cancels, 2);
}

#[test]
fn no_rom_is_a_timeout_with_advice() {
    let dir = TempDir::new().unwrap();
    let (file, _) = fls_file(&dir, 3_000);
    let script = Script {
        absent: true,
        ..Script::default()
    };
    let (output, seen, elapsed) =
        flash(script, &["--reset", "manual", "--timeout", "1", arg(&file)]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("error: no answer from the W800 within 1 s"),
        "{stderr}"
    );
    assert!(seen.escapes > 10, "ESC keeps being sent: {}", seen.escapes);
    assert!(seen.frames.is_empty());
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[test]
fn dry_run_and_refused_files() {
    let dir = TempDir::new().unwrap();
    let (file, fls) = fls_file(&dir, 3_000);
    let output = Command::new(env!("CARGO_BIN_EXE_w800-tool"))
        .args([
            "flash",
            "--dry-run",
            "--port",
            "/dev/no-such-port",
            arg(&file),
        ])
        .output()
        .unwrap();
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    for expected in [
        "dry run: nothing is opened or sent".to_owned(),
        "1. reset: 10 x (DTR/RTS pulse".to_owned(),
        "3. baud: 21 0a 00 ef 2a 31 00 00 00 80 84 1e 00".to_owned(),
        format!(
            "4. send {} ({} bytes) by XMODEM-1K/CRC after a 'C': 5 blocks",
            arg(&file),
            fls.len()
        ),
        "5. reboot: 21 06 00 c7 7c 3f 00 00 00".to_owned(),
    ] {
        assert!(stdout.contains(&expected), "{expected:?} in\n{stdout}");
    }

    let img = &fls[..fls.len() - 64 - 1024];
    let ota = images::pack_ota(
        img,
        &PartitionTableRepr::with_ota(),
        images::OtaOverrides::default(),
    )
    .unwrap();
    let ota_path = dir.path().join("w800_ota.img");
    fs::write(&ota_path, ota).unwrap();
    let corrupt_path = dir.path().join("corrupt.img");
    let mut corrupt = img.to_vec();
    corrupt[100] ^= 1;
    fs::write(&corrupt_path, corrupt).unwrap();
    for (path, expected) in [
        (
            &ota_path,
            "is an xz-compressed OTA image: flash the .img or the .fls",
        ),
        (&corrupt_path, "body checksum mismatch"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_w800-tool"))
            .args([
                "flash",
                "--dry-run",
                "--port",
                "/dev/no-such-port",
                arg(path),
            ])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        assert!(
            text(&output.stderr).contains(expected),
            "{}",
            text(&output.stderr)
        );
    }
}
