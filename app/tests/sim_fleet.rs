//! A fleet under load: one OTA job targeting 20 sims at once, on one test network and one
//! local cloud. Each sim is a device of its own (its TAP device and MAC address, its thing
//! name and certificate, a factory-fresh flash); every execution must end SUCCEEDED with the
//! new firmware running, and the file server's log must show that each device fetched each
//! byte of the file once, plus at most one block for each resume (the file server cuts a few
//! downloads, so that some do resume).
//!
//! The sims share the machine's cores, so the waits are generous; the test prints how long
//! the fleet took and a line per device (`cargo test --test sim_fleet -- --nocapture`).

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::{make_pki_with_things, sim_firmware, temp_flash, LocalCloud, Session, TestNet};

/// The devices of the fleet.
const FLEET: usize = 20;
/// The agent's download block, the most a resume may fetch again.
const BLOCK: u64 = 4096;
/// How long a step at the shell may take with the whole fleet busy.
const STEP: Duration = Duration::from_secs(180);
/// How long the whole update may take on each device, from the job's creation.
const UPDATE: Duration = Duration::from_secs(900);
/// How many downloads the file server cuts, and after how many bytes of the file.
const CUTS: usize = 5;
const CUT_AT: u64 = 100_000;
/// The job's id.
const JOB: &str = "fleet";

/// One sim of the fleet and what the test learnt of it.
struct Device {
    thing: String,
    sim: Session,
    /// The address DHCP gave it before the update, which names it in the file server's log.
    address: String,
}

/// What a device's run took.
struct Outcome {
    device: Device,
    /// From the job's creation until the device runs the new firmware, its self-test passed.
    took: Duration,
}

/// The test's directory (20 flash files and what the loader unpacks beside them), removed
/// also when the test fails; dropped after the sims and the cloud, which use it.
struct RemovedOnDrop(PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Joins the network and sets the clock; the address the device got.
fn join(sim: &mut Session) -> String {
    sim.send("wifi init");
    sim.send("wifi connect 61test 12345678");
    let line = sim.expect("sta got ip", STEP);
    sim.send("ntp start");
    sim.expect("local time:", STEP);
    line.rsplit(' ').next().unwrap_or_default().to_owned()
}

/// The device's update from the job's notification to its self-test, as sim_aws_ota checks it
/// for one device.
fn update(device: &mut Device) {
    let sim = &mut device.sim;
    sim.expect("self_test ready accepted: activating", UPDATE);
    // On trial first, then, once its self-test passed, installed into app, where it reports.
    sim.expect("0.2.0 runs on trial", STEP);
    join(sim);
    sim.expect("aws_ota: the new image awaits its self-test", STEP);
    sim.expect("self-test passed: 0.2.0 replaced 0.1.0", STEP);
    sim.expect("installed 0.2.0", STEP);
    sim.expect("W800 AWS OTA firmware 0.2.0", STEP);
    join(sim);
    sim.expect("aws_ota: the new image awaits its self-test", STEP);
    sim.expect("self-test passed: 0.2.0 replaced 0.1.0", STEP);
    sim.send("ota status");
    sim.expect("app:     0.2.0", STEP);
}

/// The status and `reason` of `thing`'s execution in `describe-job`'s (pretty JSON) answer.
fn execution(described: &str, thing: &str) -> (String, String) {
    let at = described
        .find(&format!("\"{thing}\": {{"))
        .unwrap_or_else(|| panic!("no execution for {thing}:\n{described}"));
    // The execution's object, to its closing brace (no string in it holds a brace).
    let object = &described[at..];
    let mut depth = 0;
    let end = object
        .char_indices()
        .find_map(|(index, c)| {
            match c {
                '{' => depth += 1,
                '}' if depth == 1 => return Some(index),
                '}' => depth -= 1,
                _ => {}
            }
            None
        })
        .unwrap_or(object.len());
    let object = &object[..end];
    let field = |name: &str| {
        let prefix = format!("\"{name}\": \"");
        object.find(&prefix).map_or_else(String::new, |start| {
            let rest = &object[start + prefix.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_owned()
        })
    };
    (field("status"), field("reason"))
}

/// The path (`/bucket/key`) of the job's file, from its document's presigned-URL placeholder
/// (`${aws:iot:s3-presigned-url:https://host:port/bucket/key}`).
fn object_path(described: &str) -> String {
    let prefix = "s3-presigned-url:https://";
    let url =
        &described[described.find(prefix).expect("a presigned-URL placeholder") + prefix.len()..];
    let url = &url[..url.find('}').unwrap_or(url.len())];
    url[url.find('/').unwrap_or(0)..].to_owned()
}

/// The object bytes each client was sent of `path`, in the order the responses ended, from the
/// file server's `files: body ... peer=IP PATH from=OFFSET bytes=COUNT` lines.
fn bodies_by_peer(log: &str, path: &str) -> BTreeMap<String, Vec<(u64, u64)>> {
    let mut bodies: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    for line in log.lines().filter(|line| line.starts_with("files: body ")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if !words.contains(&path) {
            continue;
        }
        let field = |name: &str| {
            words
                .iter()
                .find_map(|word| word.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in {line:?}"))
        };
        let number = |name: &str| field(name).parse::<u64>().unwrap();
        bodies
            .entry(field("peer=").to_owned())
            .or_default()
            .push((number("from="), number("bytes=")));
    }
    bodies
}

/// Checks that `bodies` (one device's responses, in order) cover `size` bytes from the start
/// without a gap, each resume fetching again at most one block of what came before (so that
/// the total is at most the size and a block per resume); returns the bytes fetched.
fn fetched_once(bodies: &[(u64, u64)], size: u64) -> Result<u64, String> {
    let mut covered = 0;
    for (index, &(from, bytes)) in bodies.iter().enumerate() {
        let again = if index == 0 { 0 } else { BLOCK };
        if from > covered || covered - from > again {
            return Err(format!(
                "response {index} starts at {from} with bytes 0-{covered} fetched: {bodies:?}"
            ));
        }
        covered = covered.max(from + bytes);
    }
    if covered != size {
        return Err(format!("{covered} of {size} bytes fetched: {bodies:?}"));
    }
    Ok(bodies.iter().map(|(_, bytes)| bytes).sum())
}

#[test]
fn one_job_updates_a_fleet_of_20_sims_and_each_fetches_each_byte_once() {
    let things: Vec<String> = (1..=FLEET).map(|n| format!("fleet-{n:02}")).collect();
    let net = TestNet::up_with_taps("fl", FLEET);
    let dir = RemovedOnDrop(temp_flash("fleet").parent().unwrap().to_path_buf());
    let dir = &dir.0;
    let pki = make_pki_with_things(dir, &things);
    let cloud = LocalCloud::up(&net, &dir.join("cloud"), &pki);
    let image = sim_firmware("0.2.0").ota;
    let size = std::fs::metadata(&image).unwrap().len();
    let file = |name: &str| pki.join(name).display().to_string();

    let started = Instant::now();
    // Every device joins and starts its agent; the job comes once all are waiting for one, so
    // that the whole fleet takes it at once.
    let (ready, readied) = mpsc::channel();
    let (created, creation) = mpsc::channel::<Instant>();
    let creation = std::sync::Mutex::new(creation);
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let runs: Vec<_> = things
            .iter()
            .enumerate()
            .map(|(index, thing)| {
                let device_dir: PathBuf = dir.join(thing);
                std::fs::create_dir_all(&device_dir).unwrap();
                let config = device_dir.join("ota.conf");
                std::fs::write(&config, format!("thing = {thing}\n")).unwrap();
                // Locally administered and unicast, one per device, none the default's.
                let mac = format!("02:57:38:30:31:{:02x}", index + 1);
                let args = [
                    "--ca".to_owned(),
                    file("ca.crt"),
                    "--cert".to_owned(),
                    file(&format!("{thing}.crt")),
                    "--key".to_owned(),
                    file(&format!("{thing}.key")),
                    "--code-signing".to_owned(),
                    file("code-signing.crt"),
                    "--config".to_owned(),
                    config.display().to_string(),
                    "--mac".to_owned(),
                    mac,
                ];
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let sim = Session::start(net.sim_on(
                    &TestNet::tap(index),
                    &device_dir.join("flash.bin"),
                    &args,
                ));
                let ready = ready.clone();
                let creation = &creation;
                scope.spawn(move || {
                    let mut device = Device {
                        thing: thing.clone(),
                        sim,
                        address: String::new(),
                    };
                    device.address = join(&mut device.sim);
                    device.sim.send("aws_ota");
                    device.sim.expect("aws_ota: agent started", STEP);
                    ready.send(()).unwrap();
                    let created_at = creation
                        .lock()
                        .unwrap()
                        .recv_timeout(STEP * 2)
                        .expect("the job was created");
                    update(&mut device);
                    Outcome {
                        took: created_at.elapsed(),
                        device,
                    }
                })
            })
            .collect();
        for n in 0..FLEET {
            readied
                .recv_timeout(STEP * 2)
                .unwrap_or_else(|_| panic!("only {n} of {FLEET} agents started"));
        }
        // The first downloads to reach the file server are cut mid-file: those devices resume,
        // which the byte accounting below must allow for (a block) and no more.
        cloud.run(&[
            "fault",
            "cut-after",
            &CUT_AT.to_string(),
            "--times",
            &CUTS.to_string(),
        ]);
        let mut create = vec!["create-ota-job", "--file"];
        let image = image.display().to_string();
        create.push(&image);
        for thing in &things {
            create.extend(["--thing", thing]);
        }
        create.extend(["--job-id", JOB, "--sign-key"]);
        let key = file("code-signing.key");
        create.push(&key);
        cloud.run(&create);
        let now = Instant::now();
        for _ in 0..FLEET {
            created.send(now).unwrap();
        }
        // This closure owns the sender (so a panic above drops it, and a device waiting for
        // the job stops waiting at once rather than at its timeout).
        drop(created);
        runs.into_iter()
            .map(|run| run.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let slowest = outcomes.iter().map(|o| o.took).max().unwrap();
    let whole_run = started.elapsed();

    // The cloud has every execution's end, as each device reported it.
    let deadline = Instant::now() + STEP;
    let described = loop {
        let described = cloud.run(&["describe-job", JOB]);
        let ended = things.iter().all(|thing| {
            !matches!(
                execution(&described, thing).0.as_str(),
                "QUEUED" | "IN_PROGRESS"
            )
        });
        if ended || Instant::now() > deadline {
            break described;
        }
        std::thread::sleep(Duration::from_millis(500));
    };

    // Each device's download, told apart by its address.
    let path = object_path(&described);
    let log = cloud.log();
    let bodies = bodies_by_peer(&log, &path);

    println!(
        "fleet of {FLEET}: the last update ended {slowest:.1?} after the job's creation; \
         {whole_run:.1?} from the sims' start"
    );
    println!("device    address       status     fetched/size     responses  took");
    let mut failures = Vec::new();
    for Outcome { device, took } in &outcomes {
        let (status, reason) = execution(&described, &device.thing);
        let mine = bodies.get(&device.address).cloned().unwrap_or_default();
        let fetched: u64 = mine.iter().map(|(_, bytes)| bytes).sum();
        println!(
            "{:<9} {:<13} {:<10} {fetched:>7}/{size:<7}  {:>9}  {took:.1?}",
            device.thing,
            device.address,
            status,
            mine.len()
        );
        if (status.as_str(), reason.as_str()) != ("SUCCEEDED", "accepted 0.2.0") {
            failures.push(format!("{}: {status} ({reason})", device.thing));
        }
    }
    assert!(failures.is_empty(), "{failures:?}\n{described}");
    // Every address is its own device's: no two devices shared one.
    assert_eq!(bodies.len(), FLEET, "{:?}", bodies.keys());
    let resumes: usize = bodies.values().map(|mine| mine.len() - 1).sum();
    assert!(
        resumes >= CUTS,
        "{CUTS} downloads were cut, {resumes} resumed"
    );
    for Outcome { device, .. } in &outcomes {
        if let Err(error) = fetched_once(&bodies[&device.address], size) {
            panic!("{}: {error}", device.thing);
        }
    }
}

#[test]
fn the_accounting_reads_executions_and_finds_gaps_refetches_and_short_files() {
    let log = "files: request connection=1 peer=10.80.0.5 GET /b/k range=bytes=0- target_bytes=9\n\
               files: body connection=1 peer=10.80.0.5 /b/k from=0 bytes=10000\n\
               files: body connection=2 peer=10.80.0.6 /b/other from=0 bytes=5\n\
               files: body connection=3 peer=10.80.0.5 /b/k from=8192 bytes=11808\n";
    let bodies = bodies_by_peer(log, "/b/k");
    assert_eq!(bodies.len(), 1);
    assert_eq!(
        object_path(
            r#""update_data_url": "${aws:iot:s3-presigned-url:https://s3.w800.test:8443/w800-ota/k}","#
        ),
        "/w800-ota/k"
    );
    let described = r#"{
  "executions": {
    "fleet-01": {
      "status": "FAILED",
      "statusDetails": { "reason": "image: bad CRC" },
      "versionNumber": 5
    },
    "fleet-02": {
      "status": "SUCCEEDED",
      "statusDetails": { "reason": "accepted 0.2.0" }
    }
  }
}"#;
    assert_eq!(
        execution(described, "fleet-01"),
        ("FAILED".to_owned(), "image: bad CRC".to_owned())
    );
    assert_eq!(execution(described, "fleet-02").0, "SUCCEEDED");
    let mine = &bodies["10.80.0.5"];
    assert_eq!(mine, &[(0, 10_000), (8192, 11_808)]);
    // A resume one block back is allowed and counted.
    assert_eq!(fetched_once(mine, 20_000), Ok(21_808));
    // Two blocks back, a gap, a first response not from 0, a file not fetched to its end.
    for bodies in [
        &[(0, 10_000), (4096, 15_904)][..],
        &[(0, 10_000), (12_288, 7_712)],
        &[(4096, 15_904)],
        &[(0, 10_000)],
    ] {
        assert!(fetched_once(bodies, 20_000).is_err(), "{bodies:?}");
    }
}
