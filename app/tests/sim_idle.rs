//! The sim on its test network when nothing happens, and when a lot does: connected and idle
//! it sleeps (the radio wakes the network task, the idle task sleeps until the next tick), and
//! a download completes the same over an unshaped and a shaped link.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::{in_net, make_pki, temp_flash, Session, TestNet};

/// Held by each test for its whole run: the idle figure is taken with no download beside it.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The sim process running on `flash`: `scripts/testnet exec` runs it as a child, so it is
/// found by its executable and its (test-private) flash file.
fn sim_pid(flash: &Path) -> u32 {
    let sim = std::fs::canonicalize(env!("CARGO_BIN_EXE_w800-sim")).unwrap();
    let flash = flash.to_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .find(|pid| {
                let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                exe.as_ref() == Some(&sim)
                    && cmdline
                        .split(|b| *b == 0)
                        .any(|arg| arg == flash.as_bytes())
            });
        if let Some(pid) = found {
            return pid;
        }
        assert!(Instant::now() < deadline, "no sim process on {flash}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The CPU time (user + system) `pid` has used, from the host's process accounting.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name (which is in parentheses and may hold spaces):
    // state is field 3, utime 14 and stime 15.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    let hz: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    Duration::from_micros(ticks * 1_000_000 / hz)
}

#[test]
fn connected_and_idle_the_sim_takes_under_5_percent_of_a_core() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let net = TestNet::up("i");
    let flash = temp_flash("idle");
    let mut sim = Session::start(net.sim(&flash, &[]));
    sim.send("wifi init");
    sim.expect("wifi initialised", Duration::from_secs(10));
    sim.send("wifi connect 61test 12345678");
    sim.expect("sta got ip 10.80.0.", Duration::from_secs(30));
    let pid = sim_pid(&flash);
    let (cpu_start, start) = (cpu_time(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(10));
    let (cpu, wall) = (cpu_time(pid) - cpu_start, start.elapsed());
    let share = cpu.as_secs_f64() / wall.as_secs_f64() * 100.0;
    println!("idle on the network: {cpu:?} of CPU in {wall:?} ({share:.1} % of a core)");
    assert!(share < 5.0, "the idle sim took {share:.1} % of a core");
    // Still on the network after the idle: it answers.
    sim.send("ping 10.80.0.1 1");
    sim.expect("1 sent, 1 received", Duration::from_secs(10));
    drop(sim);
    std::fs::remove_dir_all(flash.parent().unwrap()).unwrap();
}

/// An HTTPS server in the test network serving `body` as `/file.bin` (nginx, as the
/// sim_network tests run it); stopped on drop.
struct FileServer {
    dir: PathBuf,
}

impl FileServer {
    fn start(net: &TestNet, dir: &Path, pki: &Path, body: &[u8]) -> FileServer {
        let www = dir.join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("file.bin"), body).unwrap();
        let conf = dir.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "daemon on;\npid {dir}/nginx.pid;\nerror_log {dir}/nginx.err;\nevents {{}}\n\
                 http {{\n access_log off;\n client_body_temp_path {dir};\n\
                 proxy_temp_path {dir};\n fastcgi_temp_path {dir};\n uwsgi_temp_path {dir};\n\
                 scgi_temp_path {dir};\n server {{\n  listen 10.80.0.1:443 ssl;\n\
                 ssl_certificate {pki}/s3.crt;\n  ssl_certificate_key {pki}/s3.key;\n\
                 root {www};\n }}\n}}\n",
                dir = dir.display(),
                pki = pki.display(),
                www = www.display(),
            ),
        )
        .unwrap();
        in_net(
            net,
            "nginx",
            &["-c", conf.to_str().unwrap(), "-p", dir.to_str().unwrap()],
        );
        FileServer {
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("nginx.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

/// Downloads `/file.bin` with the sim on a link impaired by `impair` (none: unshaped); the
/// `httpc` report (size, time, rate) and the SHA-256 it printed.
fn download(net: &TestNet, flash: &Path, pki: &Path, impair: Option<&str>) -> (String, String) {
    let ca = pki.join("ca.crt");
    let mut args = vec!["--ca", ca.to_str().unwrap()];
    if let Some(spec) = impair {
        args.extend(["--impair", spec]);
    }
    let text = net.run_sim(
        flash,
        &args,
        "wifi init\nwifi connect 61test 12345678\nntp start\n\
         httpc get https://s3.w800.test/file.bin\n",
    );
    let line = |start: &str| {
        text.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no {start:?} line in:\n{text}"))
            .to_string()
    };
    (line("got "), line("sha256 "))
}

#[test]
fn a_download_is_the_same_over_an_unshaped_and_a_1_mbit_link() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let net = TestNet::up("d");
    let flash = temp_flash("download");
    let dir = flash.parent().unwrap().to_path_buf();
    let body: Vec<u8> = (0..1_048_576u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let pki = make_pki(&dir);
    let server = FileServer::start(&net, &dir, &pki, &body);
    let digest = {
        use sha2::Digest;
        let hash = sha2::Sha256::digest(&body);
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let (unshaped, unshaped_sha) = download(&net, &flash, &pki, None);
    let (shaped, shaped_sha) = download(&net, &flash, &pki, Some("rate=1mbit"));
    println!("unshaped: {unshaped}\n1 Mbit/s: {shaped}");
    drop(server);
    assert!(unshaped.starts_with("got 1048576 bytes"), "{unshaped}");
    assert!(shaped.starts_with("got 1048576 bytes"), "{shaped}");
    assert_eq!(unshaped_sha, format!("sha256 {digest}"));
    assert_eq!(shaped_sha, unshaped_sha);
    std::fs::remove_dir_all(dir).unwrap();
}
