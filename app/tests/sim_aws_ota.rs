//! `aws_ota` end to end on the sim against the local AWS IoT stand-in (scripts/cloud: mosquitto
//! with mutual TLS, the Jobs MQTT API, an S3-style presigned HTTPS file server) in the sim's
//! test network: the job over MQTT, the file over HTTPS, staging, the reboot, the self-test,
//! and the job's end state as the cloud records it. An update that installs is a real sim
//! firmware of 0.2.0 (`support::sim_firmware`), which the sim's loader runs after the restart.

mod support;

use bsp::format::ptable::PartitionTableRepr;
use bsp::sample::app_binary;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{
    make_pki, ota_image, run_to_end, sim_firmware, temp_flash, LocalCloud, Session, TestNet,
};
use w800_tool::images;

/// How long a job may take to reach its end state.
const JOB_WAIT: Duration = Duration::from_secs(60);
/// How long a step at the shell may take.
const STEP: Duration = Duration::from_secs(30);

/// A test network with the local cloud in it.
struct Lab {
    /// Stopped before the directory it runs in is removed (`Some` until then).
    local: Option<LocalCloud>,
    net: TestNet,
    dir: PathBuf,
    pki: PathBuf,
}

impl Lab {
    fn up(tag: &str) -> Lab {
        let net = TestNet::up(tag);
        let dir = temp_flash(tag).parent().unwrap().to_path_buf();
        let pki = make_pki(&dir);
        let local = Some(LocalCloud::up(&net, &dir.join("cloud"), &pki));
        Lab {
            local,
            net,
            dir,
            pki,
        }
    }

    fn local(&self) -> &LocalCloud {
        self.local
            .as_ref()
            .expect("the cloud runs until the lab is dropped")
    }

    /// Runs `scripts/cloud` with this lab's settings; its standard output.
    fn cloud(&self, args: &[&str]) -> String {
        self.local().run(args)
    }

    fn file(&self, name: &str) -> String {
        self.pki.join(name).display().to_string()
    }

    /// Queues an OTA job for `image`, signed with `sign_key` (the code-signing key unless
    /// given).
    fn create_job(&self, job: &str, image: &Path, sign_key: Option<&str>) {
        let key = sign_key.map_or_else(|| self.file("code-signing.key"), str::to_owned);
        self.cloud(&[
            "create-ota-job",
            "--thing",
            "w800-demo-1",
            "--file",
            &image.display().to_string(),
            "--sign-key",
            &key,
            "--job-id",
            job,
        ]);
    }

    /// Queues a job with `document` (JSON text) as it is.
    fn create_job_with_document(&self, job: &str, document: &str) {
        let path = self.dir.join(format!("{job}.json"));
        std::fs::write(&path, document).unwrap();
        self.cloud(&[
            "create-job",
            "--thing",
            "w800-demo-1",
            "--document",
            &path.display().to_string(),
            "--job-id",
            job,
        ]);
    }

    /// The execution's status and `reason` once it is no longer QUEUED or IN_PROGRESS.
    fn wait_for_end(&self, job: &str, sim: &mut Session) -> (String, String) {
        let deadline = Instant::now() + JOB_WAIT;
        loop {
            let text = self.cloud(&["describe-job", job]);
            let status = json_string(&text, "\"status\": \"").unwrap_or_default();
            if status != "QUEUED" && status != "IN_PROGRESS" {
                return (
                    status,
                    json_string(&text, "\"reason\": \"").unwrap_or_default(),
                );
            }
            assert!(
                Instant::now() < deadline,
                "job {job} still {status}:\n{text}\nthe sim printed:\n{}",
                sim.printed()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The object key of `job`'s file, from its document's presigned-URL placeholder.
    fn object_key(&self, job: &str) -> String {
        let text = self.cloud(&["describe-job", job]);
        let url = json_string(&text, "s3-presigned-url:").unwrap_or_default();
        let key = url.rsplit('/').next().unwrap_or_default();
        key.trim_end_matches('}').to_owned()
    }

    /// The file server's request log lines for the object of `job`: `(connection, range)`.
    fn requests(&self, job: &str) -> Vec<(String, String)> {
        self.request_fields(job, &["connection=", "range="])
            .into_iter()
            .map(|mut fields| (fields.remove(0), fields.remove(0)))
            .collect()
    }

    /// The named fields of the file server's request log lines for the object of `job`.
    fn request_fields(&self, job: &str, names: &[&str]) -> Vec<Vec<String>> {
        let key = self.object_key(job);
        let key = key.as_str();
        let log = self.local().log();
        log.lines()
            .filter(|line| line.starts_with("files: request") && line.contains(key))
            .map(|line| {
                let field = |name: &&str| {
                    line.split_whitespace()
                        .find_map(|word| word.strip_prefix(*name))
                        .unwrap_or_default()
                        .to_owned()
                };
                names.iter().map(field).collect()
            })
            .collect()
    }

    /// The sim on the lab's network with the test PKI's device identity.
    fn sim(&self, flash: &Path, extra: &[&str]) -> Session {
        Session::start(self.sim_command(flash, extra))
    }

    /// The command [`Lab::sim`] starts, for options of its own (an environment variable).
    fn sim_command(&self, flash: &Path, extra: &[&str]) -> Command {
        let (ca, cert, key, signing) = (
            self.file("ca.crt"),
            self.file("w800-demo-1.crt"),
            self.file("w800-demo-1.key"),
            self.file("code-signing.crt"),
        );
        let mut args = vec![
            "--ca",
            &ca,
            "--cert",
            &cert,
            "--key",
            &key,
            "--code-signing",
            &signing,
        ];
        args.extend_from_slice(extra);
        self.net.sim(flash, &args)
    }

    /// The bytes of `job`'s file the file server sent, over every response.
    fn bytes_sent(&self, job: &str) -> u64 {
        let key = self.object_key(job);
        let log = self.local().log();
        log.lines()
            .filter(|line| line.starts_with("files: body") && line.contains(key.as_str()))
            .filter_map(|line| {
                line.split_whitespace()
                    .find_map(|word| word.strip_prefix("bytes="))
                    .and_then(|bytes| bytes.parse::<u64>().ok())
            })
            .sum()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        drop(self.local.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The JSON string after the first `prefix` in `text` (escapes are not expected here).
fn json_string(text: &str, prefix: &str) -> Option<String> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// An `_ota.img` for `app` of version `version`, `size` bytes of firmware, in `dir`.
fn ota_file(dir: &Path, version: &str, size: usize) -> PathBuf {
    let (_, ota) = ota_image(&app_binary(7, size), version);
    let path = dir.join(format!("{version}-{size}_ota.img"));
    std::fs::write(&path, ota).unwrap();
    path
}

/// Joins the network and sets the clock.
fn join(sim: &mut Session) {
    sim.send("wifi init");
    sim.send("wifi connect 61test 12345678");
    sim.expect("sta got ip", STEP);
    sim.send("ntp start");
    sim.expect("local time:", STEP);
}

/// Joins the network, sets the clock and starts the agent.
fn start_agent(sim: &mut Session) {
    join(sim);
    sim.send("aws_ota");
    sim.expect("aws_ota: agent started", STEP);
}

/// After the restart into the new image: the agent starts by itself once the clock is set.
fn rejoin_for_self_test(sim: &mut Session) {
    join(sim);
    sim.expect("aws_ota: the new image awaits its self-test", STEP);
}

/// The new image on trial passes its self-test and restarts to go into app, where it starts
/// again and runs the self-test again, which reports the job.
fn install_after_trial(sim: &mut Session) {
    rejoin_for_self_test(sim);
    sim.expect("self-test passed: 0.2.0 replaced 0.1.0", STEP);
    sim.expect(
        "the image passed its trial: restarting to install it into app",
        STEP,
    );
    sim.expect("installed 0.2.0", STEP);
    sim.expect("W800 AWS OTA firmware 0.2.0", STEP);
    sim.expect("app image ver 0.2.0", STEP);
    rejoin_for_self_test(sim);
}

#[test]
fn an_update_from_v1_to_v2_succeeds_and_v2_is_in_app() {
    let lab = Lab::up("o");
    let flash = lab.dir.join("flash.bin");
    let image = sim_firmware("0.2.0").ota;
    // Every notification comes twice: the agent ignores the repeats of the job it works on.
    lab.cloud(&["fault", "duplicate-notifications", "on"]);
    lab.create_job("v2", &image, None);
    let mut sim = lab.sim(&flash, &[]);
    start_agent(&mut sim);
    sim.expect("self_test ready accepted: activating", JOB_WAIT);
    // The sim restarts itself (same process, same console) and runs the image on trial,
    // while app keeps 0.1.0.
    sim.expect("starting 0.2.0", STEP);
    sim.expect("W800 AWS OTA firmware 0.2.0", STEP);
    sim.expect("app image ver 0.1.0", STEP);
    sim.expect("0.2.0 runs on trial; app keeps 0.1.0", STEP);
    let text = lab.cloud(&["describe-job", "v2"]);
    assert!(text.contains("IN_PROGRESS"), "{text}");
    install_after_trial(&mut sim);
    sim.expect("self-test passed: 0.2.0 replaced 0.1.0", STEP);
    assert_eq!(
        lab.wait_for_end("v2", &mut sim),
        ("SUCCEEDED".to_owned(), "accepted 0.2.0".to_owned())
    );
    sim.send("ota status");
    sim.expect("app:     0.2.0", STEP);
    // The cloud has the verdict: app_ota keeps nothing of the update.
    sim.expect("record:  none", STEP);
    // One open-ended Range request per connection, from the start.
    let requests = lab.requests("v2");
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].1, "bytes=0-");
}

#[test]
fn an_image_whose_code_cannot_run_is_rejected_and_v1_reports_the_job_failed() {
    let lab = Lab::up("n");
    let flash = lab.dir.join("flash.bin");
    // A 0.2.0 image whose body is no sim executable: it verifies and stages, but the sim's
    // loader cannot run it on trial, so app keeps 0.1.0, which reports the job.
    let image = ota_file(&lab.dir, "0.2.0", 120_000);
    lab.create_job("no-code", &image, None);
    let mut sim = lab.sim(&flash, &[]);
    start_agent(&mut sim);
    sim.expect("self_test ready accepted: activating", JOB_WAIT);
    sim.expect("is not an i386 Linux executable: app keeps its image", STEP);
    sim.expect("W800 AWS OTA firmware 0.1.0", STEP);
    sim.expect("app image ver 0.1.0", STEP);
    v1_reports_the_rollback(&lab, "no-code", &mut sim);
}

/// 0.1.0, running again after 0.2.0 did not become the running image, joins the network and
/// reports `job` `FAILED` with the rollback as its reason; then app_ota keeps nothing of it.
fn v1_reports_the_rollback(lab: &Lab, job: &str, sim: &mut Session) {
    join(sim);
    sim.expect(
        "aws_ota: the update to 0.2.0 did not become the running image: reporting it",
        STEP,
    );
    sim.expect("self-test failed", STEP);
    assert_eq!(
        lab.wait_for_end(job, sim),
        (
            "FAILED".to_owned(),
            "self-test: rolled back: 0.2.0 did not become the running image, 0.1.0 runs".to_owned()
        )
    );
    sim.send("ota status");
    sim.expect("app:     0.1.0", STEP);
    sim.expect("record:  none", STEP);
}

#[test]
fn an_image_that_cannot_reach_the_cloud_within_its_deadline_rolls_back_and_v1_reports_it() {
    let lab = Lab::up("r");
    let flash = lab.dir.join("flash.bin");
    // A device as it leaves the factory: 0.1.0 in app, which the loader runs (the test's own
    // sim executable does not fit app, and a rollback must find the previous image there).
    let v1 = sim_firmware("0.1.0");
    let mut factory = Command::new(&v1.exe);
    factory.arg("--flash").arg(&flash);
    run_to_end(factory, "", STEP);
    let image = sim_firmware("0.2.0").ota;
    let settings = lab.dir.join("deadline.conf");
    std::fs::write(&settings, "self_test_deadline = 15\n").unwrap();
    let config = settings.display().to_string();
    lab.create_job("deadline", &image, None);
    let mut sim = lab.sim(&flash, &["--config", &config]);
    start_agent(&mut sim);
    sim.expect("self_test ready accepted: activating", JOB_WAIT);
    std::thread::scope(|scope| {
        // The broker goes away as the new image starts on trial: its self-test cannot reach
        // the cloud in time.
        let broker = scope.spawn(|| lab.cloud(&["fault", "restart-broker", "35"]));
        sim.expect("or it rolls back", STEP);
        sim.expect("0.2.0 runs on trial; app keeps 0.1.0", STEP);
        join(&mut sim);
        sim.expect("aws_ota: the new image awaits its self-test", STEP);
        sim.expect(
            "the self-test had no accepted verdict within 15 s: rolling back",
            JOB_WAIT,
        );
        sim.expect("W800 AWS OTA firmware 0.1.0", STEP);
        sim.expect("app version is the running version", STEP);
        broker.join().unwrap();
    });
    // 0.1.0 reports the job once it is on the network again.
    v1_reports_the_rollback(&lab, "deadline", &mut sim);
}

#[test]
fn refused_files_end_failed_with_their_reason_and_v1_keeps_running() {
    let lab = Lab::up("f");
    let flash = lab.dir.join("flash.bin");
    let newer = ota_file(&lab.dir, "0.2.0", 120_000);
    let same = ota_file(&lab.dir, "0.1.0", 120_000);
    // A file larger than app_ota (less its record sector): refused before anything is erased.
    let capacity = images::ota_file_capacity(&PartitionTableRepr::with_ota()).unwrap();
    let oversize = lab.dir.join("oversize_ota.img");
    std::fs::write(&oversize, vec![0x5A; capacity + 1]).unwrap();
    // The jobs run in the order they were queued.
    lab.create_job("flipped", &newer, None);
    lab.create_job(
        "foreign-signature",
        &newer,
        Some(&lab.file("foreign-ca.key")),
    );
    lab.create_job("not-newer", &same, None);
    lab.create_job("oversize", &oversize, None);
    // The file server flips one byte of the first download.
    lab.cloud(&["fault", "flip-byte", "10000", "--times", "1"]);
    let mut sim = lab.sim(&flash, &[]);
    start_agent(&mut sim);
    let expect = [
        ("flipped", "image"),
        ("foreign-signature", "signature"),
        ("not-newer", "version-not-newer"),
        ("oversize", "oversize"),
    ];
    expect_failed_and_v1_kept(&lab, &mut sim, &expect);
}

/// Each job ends FAILED, in order, with a reason that begins as `expect` says; then `app`
/// still holds v1, and nothing the bootloader would install is left in `app_ota`.
fn expect_failed_and_v1_kept(lab: &Lab, sim: &mut Session, expect: &[(&str, &str)]) {
    for (job, reason) in expect {
        let (status, why) = lab.wait_for_end(job, sim);
        assert_eq!(status, "FAILED", "{job}: {why}");
        assert!(why.starts_with(reason), "{job}: {why}");
    }
    sim.send("ota status");
    sim.expect("app:     0.1.0", STEP);
    sim.expect("app_ota: no image", STEP);
}

#[test]
fn a_cut_download_resumes_and_an_expired_url_is_refreshed() {
    let lab = Lab::up("r");
    let flash = lab.dir.join("flash.bin");
    let image = sim_firmware("0.2.0").ota;
    // The first URL expires within a second or two; the connection is cut once, mid-file, so
    // the resume (a second later) finds its URL expired and asks for the document again.
    lab.cloud(&["fault", "cut-after", "50000", "--times", "1"]);
    lab.cloud(&["fault", "url-expiry", "1", "--times", "1"]);
    lab.create_job("resume", &image, None);
    let mut sim = lab.sim(&flash, &[]);
    start_agent(&mut sim);
    sim.expect("self_test ready accepted: activating", JOB_WAIT);
    expect_trial(&mut sim);
    assert_eq!(lab.wait_for_end("resume", &mut sim).0, "SUCCEEDED");
    let requests = lab.requests("resume");
    let starts: Vec<u64> = requests
        .iter()
        .map(|(_, range)| {
            range
                .trim_start_matches("bytes=")
                .trim_end_matches('-')
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(starts.first(), Some(&0), "{requests:?}");
    // Each resume starts at most one block before where the cut came: nothing is fetched
    // twice beyond a block.
    let resumes: Vec<u64> = starts.iter().copied().filter(|start| *start > 0).collect();
    assert!(!resumes.is_empty(), "{requests:?}");
    assert!(
        resumes
            .iter()
            .all(|start| *start % 4096 == 0 && *start + 4096 > 50_000 - 4096),
        "{requests:?}"
    );
    // One request per connection.
    let mut connections: Vec<&String> = requests.iter().map(|(c, _)| c).collect();
    connections.dedup();
    assert_eq!(connections.len(), requests.len(), "{requests:?}");
}

#[test]
fn power_cut_mid_download_goes_on_from_the_flash_after_the_restart() {
    let lab = Lab::up("p");
    let flash = lab.dir.join("flash.bin");
    let image = sim_firmware("0.2.0").ota;
    // The file server stops sending after 150,000 bytes: the sim has written the blocks before
    // that when its power is cut (SIGKILL: nothing of the process runs on).
    const SENT: u64 = 150_000;
    let mut sim = stalled_download(&lab, &flash, "cut", &image, SENT);
    power_cut(&mut sim);
    drop(sim);

    // Power back: once on the network with the clock set, the agent starts by itself and goes
    // on from the last block the journal vouches for.
    let mut sim = lab.sim(&flash, &[]);
    join(&mut sim);
    sim.expect(
        "the download of job cut stopped before its end: going on",
        STEP,
    );
    let resumed = sim.expect("resuming the download at", JOB_WAIT);
    let kept = SENT / 4096 * 4096;
    assert!(
        resumed.contains(&format!("at {kept} of {} bytes", image_len(&image))),
        "{resumed}"
    );
    sim.expect("self_test ready accepted: activating", JOB_WAIT);
    expect_trial(&mut sim);
    assert_eq!(lab.wait_for_end("cut", &mut sim).0, "SUCCEEDED");
    // Two requests: from the start, then from where the flash stopped.
    let ranges: Vec<String> = lab.requests("cut").into_iter().map(|(_, r)| r).collect();
    assert_eq!(
        ranges,
        vec!["bytes=0-".to_owned(), format!("bytes={kept}-")],
        "{ranges:?}"
    );
}

#[test]
fn a_user_abort_the_cloud_missed_before_a_power_cut_is_reported_after_it() {
    let lab = Lab::up("a");
    let flash = lab.dir.join("flash.bin");
    let image = sim_firmware("0.2.0").ota;
    let mut sim = stalled_download(&lab, &flash, "abort", &image, 100_000);
    // The broker goes away, the user aborts (the FAILED update cannot go out), the power goes.
    std::thread::scope(|scope| {
        let broker = scope.spawn(|| lab.cloud(&["fault", "restart-broker", "15"]));
        std::thread::sleep(Duration::from_secs(2));
        sim.send("ota abort");
        sim.expect("job aborted by the user", STEP);
        std::thread::sleep(Duration::from_secs(1));
        power_cut(&mut sim);
        broker.join().unwrap();
    });
    drop(sim);
    let text = lab.cloud(&["describe-job", "abort"]);
    assert!(text.contains("IN_PROGRESS"), "{text}");

    // Back on: the verdict kept in flash is reported, and nothing is downloaded again.
    let mut sim = lab.sim(&flash, &[]);
    join(&mut sim);
    sim.expect(
        "the download of job abort stopped before its end: going on",
        STEP,
    );
    sim.expect("job abort failed before the restart", JOB_WAIT);
    assert_eq!(
        lab.wait_for_end("abort", &mut sim),
        ("FAILED".to_owned(), "user-abort".to_owned())
    );
    assert_eq!(lab.requests("abort").len(), 1);
    sim.send("ota status");
    sim.expect("app_ota: no image", STEP);
}

#[test]
fn a_power_cut_after_staging_before_the_cloud_had_self_test_ready_ends_succeeded() {
    let lab = Lab::up("s");
    let flash = lab.dir.join("flash.bin");
    let image = sim_firmware("0.2.0").ota;
    lab.create_job("staged", &image, None);
    // A slow link, so that the broker is gone before the file is in.
    let mut sim = lab.sim(&flash, &["--impair", "rate=2000000bit"]);
    start_agent(&mut sim);
    sim.expect("download 1: bytes 0-", STEP);
    std::thread::scope(|scope| {
        let broker = scope.spawn(|| lab.cloud(&["fault", "restart-broker", "20"]));
        sim.expect("file verified; reporting self_test ready", JOB_WAIT);
        std::thread::sleep(Duration::from_secs(1));
        power_cut(&mut sim);
        broker.join().unwrap();
    });
    drop(sim);
    let text = lab.cloud(&["describe-job", "staged"]);
    assert!(!text.contains("self_test"), "{text}");

    // Power back: the boot stage runs the staged file on trial, and the job, which never heard
    // self_test: ready, ends SUCCEEDED without a second download; then it goes into app.
    let mut sim = lab.sim(&flash, &[]);
    sim.expect("starting 0.2.0", STEP);
    sim.expect("W800 AWS OTA firmware 0.2.0", STEP);
    rejoin_for_self_test(&mut sim);
    sim.expect(
        "its image was staged before the restart and runs now, replacing 0.1.0",
        JOB_WAIT,
    );
    sim.expect("restarting to install it into app", STEP);
    sim.expect("installed 0.2.0", STEP);
    rejoin_for_self_test(&mut sim);
    assert_eq!(
        lab.wait_for_end("staged", &mut sim),
        ("SUCCEEDED".to_owned(), "accepted 0.2.0".to_owned())
    );
    let text = lab.cloud(&["describe-job", "staged"]);
    assert!(text.contains(r#""updatedBy": "0.1.0""#), "{text}");
    assert_eq!(lab.requests("staged").len(), 1);
    sim.send("ota status");
    sim.expect("app:     0.2.0", STEP);
}

/// A job for `image` whose download the file server stalls after `sent` bytes: the sim on
/// `flash`, its agent started, two seconds after the download began (the blocks before the
/// stall are in flash by then).
fn stalled_download(lab: &Lab, flash: &Path, job: &str, image: &Path, sent: u64) -> Session {
    lab.cloud(&["fault", "stall-after", &sent.to_string(), "--times", "1"]);
    lab.create_job(job, image, None);
    let mut sim = lab.sim(flash, &[]);
    start_agent(&mut sim);
    sim.expect("download 1: bytes 0-", STEP);
    std::thread::sleep(Duration::from_secs(2));
    sim
}

fn image_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn a_canceled_job_is_aborted_and_the_next_one_runs() {
    let lab = Lab::up("c");
    let flash = lab.dir.join("flash.bin");
    let image = sim_firmware("0.2.0").ota;
    // The first download stalls after 60 KB: the job is canceled while it waits.
    let mut sim = stalled_download(&lab, &flash, "canceled", &image, 60_000);
    lab.create_job("next", &image, None);
    lab.cloud(&["cancel-job", "canceled", "--force"]);
    assert_eq!(lab.wait_for_end("canceled", &mut sim).0, "CANCELED");
    sim.expect("self_test ready accepted: activating", JOB_WAIT);
    expect_trial(&mut sim);
    assert_eq!(lab.wait_for_end("next", &mut sim).0, "SUCCEEDED");
}

#[test]
fn an_rsa_device_key_and_a_separate_https_trust_anchor_work() {
    let lab = Lab::up("k");
    let flash = lab.dir.join("flash.bin");
    let image = sim_firmware("0.2.0").ota;
    lab.create_job("rsa", &image, None);
    let (cert, key) = (
        lab.file("w800-demo-1-rsa.crt"),
        lab.file("w800-demo-1-rsa.key"),
    );
    // The file server is not under the foreign root: with it as the HTTPS anchor the download
    // is refused, which shows the MQTT session uses its own anchor.
    let foreign = lab.file("foreign-ca.crt");
    let mut sim = lab.sim(
        &flash,
        &["--cert", &cert, "--key", &key, "--https-ca", &foreign],
    );
    start_agent(&mut sim);
    sim.expect("not signed by the configured root CA", JOB_WAIT);
    sim.send("ota abort");
    assert_eq!(lab.wait_for_end("rsa", &mut sim).1, "user-abort");
    drop(sim);
    lab.create_job("rsa-2", &image, None);
    let ca = lab.file("ca.crt");
    let mut sim = lab.sim(&flash, &["--cert", &cert, "--key", &key, "--https-ca", &ca]);
    start_agent(&mut sim);
    sim.expect("self_test ready accepted: activating", JOB_WAIT);
    expect_trial(&mut sim);
    assert_eq!(lab.wait_for_end("rsa-2", &mut sim).0, "SUCCEEDED");
}

#[test]
fn documents_that_are_not_a_usable_afr_ota_job_fail_with_the_reason_and_v1_keeps_running() {
    let lab = Lab::up("d");
    let flash = lab.dir.join("flash.bin");
    let file = r#"{"filepath":"app_ota.img","filesize":120000,"fileid":0,"certfile":"code-signing.crt","update_data_url":"https://s3.w800.test:8443/w800-ota/app_ota.img","auth_scheme":"aws.s3.presigned","sig-sha256-ecdsa":"MEUCIQ=="}"#;
    // The jobs run in the order they were queued; each is JSON, as the service requires.
    let jobs = [
        (
            "not-ota",
            r#"{"operation":"reboot"}"#.to_owned(),
            "doc-parse: not an afr_ota document",
        ),
        (
            "no-files",
            r#"{"afr_ota":{"protocols":["HTTP"],"files":[]}}"#.to_owned(),
            "doc-parse: afr_ota lists no files",
        ),
        (
            "bad-size",
            format!(
                r#"{{"afr_ota":{{"protocols":["HTTP"],"files":[{}]}}}}"#,
                file.replace("120000", r#""big""#)
            ),
            "doc-parse: ",
        ),
        (
            "mqtt-only",
            format!(r#"{{"afr_ota":{{"protocols":["MQTT"],"files":[{file}]}}}}"#),
            "protocol: HTTP not offered",
        ),
    ];
    for (job, document, _) in &jobs {
        lab.create_job_with_document(job, document);
    }
    let mut sim = lab.sim(&flash, &[]);
    start_agent(&mut sim);
    let expect: Vec<(&str, &str)> = jobs.iter().map(|(job, _, why)| (*job, *why)).collect();
    expect_failed_and_v1_kept(&lab, &mut sim, &expect);
}

#[test]
fn a_presigned_url_of_2000_bytes_downloads_and_the_update_succeeds() {
    let lab = Lab::up("l");
    let flash = lab.dir.join("flash.bin");
    let image = sim_firmware("0.2.0").ota;
    lab.create_job("long-url", &image, None);
    // The URL the service mints without a session token, then a token that brings it to about
    // 2,000 bytes (base64's '+' and '/' in it are percent-encoded: about 6 % more).
    let presigned = lab.cloud(&["presign", &lab.object_key("long-url")]);
    let base = json_string(&presigned, "\"url\": \"").unwrap().len();
    let token = (1_990 - base - "&X-Amz-Security-Token=".len()) * 100 / 106;
    lab.cloud(&["fault", "session-token", &token.to_string()]);
    let mut sim = lab.sim(&flash, &[]);
    start_agent(&mut sim);
    sim.expect("self_test ready accepted: activating", JOB_WAIT);
    expect_trial(&mut sim);
    assert_eq!(lab.wait_for_end("long-url", &mut sim).0, "SUCCEEDED");
    // What the device fetched: the whole URL, scheme and host included, near 2,000 bytes.
    let targets = lab.request_fields("long-url", &["target_bytes="]);
    assert!(!targets.is_empty());
    for target in targets {
        let url = "https://s3.w800.test:8443".len() + target[0].parse::<usize>().unwrap();
        assert!((1_950..=2_048).contains(&url), "a {url}-byte URL");
    }
}

// The fault matrix.

/// What goes wrong in one case of the fault matrix.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Nothing: the reference run, whose flash trace places the power cuts.
    None,
    /// The power goes during a flash write of the run.
    PowerCut(Cut),
    /// `scripts/cloud fault <knob> <value> --times 1` before the job.
    Cloud(&'static str, &'static str),
    /// The sim's link impaired so (`--impair`).
    Link(&'static str),
    /// The broker stops for 3 s once the download has started.
    BrokerRestart,
    /// A second job for the same image queued behind the first: once the first installed
    /// that version, the second ends FAILED, version-not-newer.
    JobBehind,
}

/// One line of the matrix's table.
struct Row {
    case: String,
    state: String,
    reason: String,
    sent: u64,
    size: u64,
    /// Free heap lost over the case, where the device never restarted.
    heap_lost: Option<i64>,
}

/// One line of a flash trace.
struct FlashWrite {
    /// The process image, counted from 0 at each `boot` line.
    image: usize,
    /// The write's number in its image.
    number: u64,
    erase: bool,
    offset: u64,
}

/// Where an update's run is when the power goes, by its process images: the one that
/// downloads (0), the restart whose boot stage starts the trial (1), the trial (2), the
/// restart whose boot stage installs the accepted image (3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Download,
    TrialStart,
    Trial,
    Install,
}

/// A power cut: during flash write `write` of process image `image`, in `phase`.
#[derive(Debug, Clone, Copy)]
struct Cut {
    phase: Phase,
    image: usize,
    write: u64,
}

/// The points of the reference run's flash trace where the power cuts go, by name, in every
/// phase of the run.
fn power_cut_points(trace: &str, file_len: u64) -> Vec<(String, Cut)> {
    let slots = bsp::ota::Slots::from_table(&PartitionTableRepr::with_ota()).unwrap();
    let (app, app_ota, record) = (
        u64::from(slots.app.offset),
        u64::from(slots.app_ota.offset),
        u64::from(slots.record_offset()),
    );
    let mut writes = Vec::new();
    let mut boots = 0usize;
    for line in trace.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["boot"] => boots += 1,
            [number, kind, offset, _len] => writes.push(FlashWrite {
                image: boots - 1,
                number: number.parse().unwrap(),
                erase: *kind == "erase",
                offset: u64::from_str_radix(offset.trim_start_matches("0x"), 16).unwrap(),
            }),
            _ => panic!("a bad trace line: {line}"),
        }
    }
    let nth = |image: usize, n: usize, test: &dyn Fn(&FlashWrite) -> bool| {
        let write = writes
            .iter()
            .filter(|w| w.image == image && test(w))
            .nth(n)
            .unwrap_or_else(|| panic!("no such write in image {image}"))
            .number;
        let phase = [
            Phase::Download,
            Phase::TrialStart,
            Phase::Trial,
            Phase::Install,
        ][image];
        Cut {
            phase,
            image,
            write,
        }
    };
    let body = app_ota..app_ota + file_len;
    let download = [
        (
            "erasing app_ota".to_owned(),
            nth(0, 40, &|w| w.erase && body.contains(&w.offset)),
        ),
        (
            "the journal's identity".to_owned(),
            nth(0, 0, &|w| w.offset == record + 0x200),
        ),
        (
            "the first block".to_owned(),
            nth(0, 0, &|w| !w.erase && body.contains(&w.offset)),
        ),
        (
            "the kept header".to_owned(),
            nth(0, 0, &|w| w.offset == record + 0x100),
        ),
        (
            "a progress entry".to_owned(),
            nth(0, 2, &|w| !w.erase && w.offset >= record + 0x300),
        ),
        (
            "mid-file".to_owned(),
            nth(0, 0, &|w| {
                !w.erase && w.offset >= app_ota + file_len / 2 && w.offset < record
            }),
        ),
        (
            "the header at app_ota".to_owned(),
            nth(0, 0, &|w| !w.erase && w.offset == app_ota),
        ),
        (
            "the update record".to_owned(),
            nth(0, 0, &|w| !w.erase && w.offset == record),
        ),
    ];
    let state_word = record + 0x14;
    let app_range = app..app_ota;
    let later = [
        (
            "marking the trial".to_owned(),
            nth(1, 0, &|w| w.offset == state_word),
        ),
        (
            "marking it accepted".to_owned(),
            nth(2, 0, &|w| w.offset == state_word),
        ),
        (
            "erasing app".to_owned(),
            nth(3, 100, &|w| w.erase && app_range.contains(&w.offset)),
        ),
        (
            "copying into app".to_owned(),
            nth(3, 1000, &|w| !w.erase && app_range.contains(&w.offset)),
        ),
        (
            "app's header".to_owned(),
            nth(3, 0, &|w| !w.erase && w.offset == app),
        ),
        (
            "marking it committed".to_owned(),
            nth(3, 0, &|w| w.offset == state_word),
        ),
    ];
    download.into_iter().chain(later).collect()
}

/// Runs one case on a fresh device; a row for the table, after checking that the job ended
/// `expected` and the device runs `runs`.
fn fault_case(lab: &Lab, name: &str, fault: Fault, image: &Path, trace: Option<&Path>) -> Row {
    let job: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let flash = lab.dir.join(format!("{job}.flash"));
    let mut extra = Vec::new();
    match fault {
        Fault::Cloud(knob, value) => {
            lab.cloud(&["fault", knob, value, "--times", "1"]);
        }
        Fault::Link(spec) => extra = vec!["--impair", spec],
        _ => {}
    }
    // A flipped byte fails the file's checks; a 200 to a Range request is refused (the body
    // would not be the bytes asked for). A trial the power ended rolls back.
    let expected = match fault {
        Fault::Cloud("flip-byte" | "ignore-range", _) => ("FAILED", "0.1.0"),
        Fault::PowerCut(Cut {
            phase: Phase::TrialStart,
            ..
        }) => ("FAILED", "0.1.0"),
        _ => ("SUCCEEDED", "0.2.0"),
    };
    // A case that ends FAILED without a restart: its free heap is read with the agent idle
    // before the job is queued and again after it ended.
    let measures_heap = expected.0 == "FAILED" && !matches!(fault, Fault::PowerCut(_));
    let behind = format!("{job}-behind");
    if !measures_heap {
        lab.create_job(&job, image, None);
    }
    if matches!(fault, Fault::JobBehind) {
        lab.create_job(&behind, image, None);
    }
    let mut command = lab.sim_command(&flash, &extra);
    if let Fault::PowerCut(cut) = fault {
        let value = format!("{}:{}", cut.image, cut.write);
        command.env(bsp::board::sim::POWER_CUT_ENV, value);
    }
    if let Some(trace) = trace {
        command.env(bsp::board::sim::FLASH_TRACE_ENV, trace);
    }
    let mut sim = Session::start(command);
    start_agent(&mut sim);
    let free_before = measures_heap.then(|| {
        sim.expect("RequestingJob -> WaitingForJob", STEP);
        let free = idle_free(&mut sim);
        lab.create_job(&job, image, None);
        free
    });
    // The cases share the image, and so its object on the file server: this case's bytes are
    // those sent from here on (none can have been sent before the agent took the job).
    let sent_before = lab.bytes_sent(&job);
    match fault {
        Fault::PowerCut(cut) => {
            if matches!(cut.phase, Phase::Trial | Phase::Install) {
                // The cut comes once the trial's self-test has passed.
                sim.expect("runs on trial", JOB_WAIT);
                rejoin_for_self_test(&mut sim);
            }
            sim.expect("w800-sim: power cut during flash write", JOB_WAIT);
            drop(sim);
            sim = lab.sim(&flash, &[]);
            match cut.phase {
                Phase::Download => {
                    join(&mut sim);
                    // Started by itself when the journal had the download; else the user
                    // starts it.
                    sim.send("aws_ota");
                    expect_trial(&mut sim);
                }
                // The trial ended without a verdict: 0.1.0 runs again and reports the job.
                Phase::TrialStart => {
                    sim.expect("rolled back to app", STEP);
                    join(&mut sim);
                }
                // The image passed its trial: the restart installs it, and it reports.
                Phase::Trial | Phase::Install => {
                    sim.expect("W800 AWS OTA firmware 0.2.0", JOB_WAIT);
                    rejoin_for_self_test(&mut sim);
                }
            }
        }
        Fault::BrokerRestart => {
            sim.expect("download 1: bytes 0-", STEP);
            lab.cloud(&["fault", "restart-broker", "3"]);
            expect_trial(&mut sim);
        }
        _ if expected.0 == "SUCCEEDED" => expect_trial(&mut sim),
        _ => {}
    }
    let (state, reason) = lab.wait_for_end(&job, &mut sim);
    assert_eq!(state, expected.0, "{name}: {reason}\n{}", sim.printed());
    if matches!(fault, Fault::JobBehind) {
        let (state, why) = lab.wait_for_end(&behind, &mut sim);
        assert_eq!(state, "FAILED", "{name}: the job behind: {why}");
        assert!(why.starts_with("version-not-newer"), "{name}: {why}");
    }
    sim.send("version");
    sim.expect(&format!("firmware {} (board", expected.1), STEP);
    let heap_lost = free_before.map(|before| before - idle_free(&mut sim));
    assert_eq!(heap_lost.unwrap_or(0), 0, "{name}: heap lost");
    Row {
        case: name.to_owned(),
        state,
        reason,
        sent: lab.bytes_sent(&job) - sent_before,
        size: image_len(image),
        heap_lost,
    }
}

/// The restart into the new image on trial, which passes its self-test, goes into app and
/// runs its self-test again there.
fn expect_trial(sim: &mut Session) {
    sim.expect("W800 AWS OTA firmware 0.2.0", JOB_WAIT);
    sim.expect("runs on trial", STEP);
    install_after_trial(sim);
}

/// The free heap once the agent has been idle for a while (its requests answered, the tasks
/// of a download ended).
fn idle_free(sim: &mut Session) -> i64 {
    std::thread::sleep(Duration::from_secs(3));
    sim.send("free");
    let line = sim.expect("heap free", STEP);
    // "heap free N bytes, minimum ever M bytes, ...": N.
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

/// Cuts the sim's power from outside (SIGKILL).
fn power_cut(sim: &mut Session) {
    let killed = Command::new("kill")
        .args(["-KILL", &sim.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
}

/// The agent against a broker that is not there, four times in a row: the free heap after
/// the second attempt and after the fourth (the first made the service's parts).
fn unreachable_broker_case(lab: &Lab) -> Row {
    let flash = lab.dir.join("unreachable.flash");
    let settings = lab.dir.join("unreachable.conf");
    std::fs::write(&settings, "endpoint = iot.w800.test\nport = 9999\n").unwrap();
    let config = settings.display().to_string();
    let mut sim = lab.sim(&flash, &["--config", &config]);
    let mut free = Vec::new();
    for _ in 0..4 {
        start_agent(&mut sim);
        sim.expect("the Jobs session did not start", JOB_WAIT);
        sim.send("ota status");
        sim.expect("agent: stopped", STEP);
        free.push(idle_free(&mut sim));
    }
    let lost = free[1] - free[3];
    assert_eq!(lost, 0, "{free:?}");
    Row {
        case: "4 failed connections".to_owned(),
        state: "-".to_owned(),
        reason: "the Jobs session did not start".to_owned(),
        sent: 0,
        size: 0,
        heap_lost: Some(lost),
    }
}

/// The fault matrix: one OTA job per case on a fresh device, through power cuts at the
/// flash writes of every phase (placed by a reference run's flash trace, so repeatable), a
/// lossy and a flapping link (seeded), a broker restart, the file server's faults, late and
/// duplicate notifications, a job queued behind, and failed connections. Every case ends
/// with the job in its terminal state and the device running the right version; the table
/// says what each cost.
#[test]
fn the_fault_matrix_ends_every_case_in_the_right_state_on_a_bootable_device() {
    let lab = Lab::up("m");
    let image = sim_firmware("0.2.0").ota;
    let trace = lab.dir.join("reference.trace");
    let mut rows = vec![fault_case(
        &lab,
        "no fault",
        Fault::None,
        &image,
        Some(&trace),
    )];
    let cuts = power_cut_points(&std::fs::read_to_string(&trace).unwrap(), image_len(&image));
    let mut cases: Vec<(String, Fault)> = cuts
        .into_iter()
        .map(|(point, cut)| (format!("power cut: {point}"), Fault::PowerCut(cut)))
        .collect();
    let others = [
        ("link loss 3%", Fault::Link("loss=3%,seed=11")),
        (
            "link down 1.5 s in 5",
            Fault::Link("flap=5000/1500,seed=12"),
        ),
        ("broker restart", Fault::BrokerRestart),
        ("file server stalls", Fault::Cloud("stall-after", "150000")),
        ("file server cuts", Fault::Cloud("cut-after", "150000")),
        ("200 to a Range", Fault::Cloud("ignore-range", "on")),
        ("a byte flipped", Fault::Cloud("flip-byte", "200000")),
        (
            "duplicate notifications",
            Fault::Cloud("duplicate-notifications", "on"),
        ),
        ("late replies", Fault::Cloud("delay-replies", "3000")),
        ("a job queued behind", Fault::JobBehind),
    ];
    cases.extend(
        others
            .iter()
            .map(|(name, fault)| (name.to_string(), *fault)),
    );
    for (name, fault) in &cases {
        lab.cloud(&["fault", "clear"]);
        rows.push(fault_case(&lab, name, *fault, &image, None));
    }
    rows.push(unreachable_broker_case(&lab));
    println!(
        "{:<32} {:<10} {:<28} {:>22} {:>10}",
        "case", "job", "reason", "bytes sent / file", "heap lost"
    );
    for row in &rows {
        let heap = row
            .heap_lost
            .map_or("-".to_owned(), |lost| lost.to_string());
        let reason: String = row.reason.chars().take(28).collect();
        println!(
            "{:<32} {:<10} {:<28} {:>22} {:>10}",
            row.case,
            row.state,
            reason,
            format!("{} / {}", row.sent, row.size),
            heap
        );
    }
}
