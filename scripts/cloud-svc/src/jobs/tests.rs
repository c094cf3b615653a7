//! The jobs service's logic, driven as a device would drive it, without a broker.

use std::time::Duration;

use serde_json::{json, Value};

use super::document::placeholder;
use super::document::tests::FakeSigner;
use super::*;

const THING: &str = "w800-demo-1";
const T0: Millis = 1_800_000_000_000;

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    jobs: Jobs,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.json");
        let jobs = Jobs::load(path.clone(), Duration::from_secs(60)).unwrap();
        Self {
            _dir: dir,
            path,
            jobs,
        }
    }

    fn create(&mut self, job_id: &str, targets: &[&str]) -> Vec<Message> {
        let new = NewJob {
            job_id: Some(job_id.into()),
            targets: targets.iter().map(|thing| thing.to_string()).collect(),
            document: json!({ "afr_ota": { "files": [{ "update_data_url": placeholder("https://s3/b/k") }] } }),
            presigned_url_expiry_secs: 1800,
            in_progress_timeout_minutes: None,
        };
        self.jobs.create_job(new, T0, &FakeSigner).unwrap().1
    }

    /// Sends a request as the device and returns the reply and the notifications.
    fn request(
        &mut self,
        operation: &str,
        payload: Value,
        now: Millis,
    ) -> (String, Value, Vec<Message>) {
        let topic = format!("$aws/things/{THING}/jobs/{operation}");
        let mut messages = self
            .jobs
            .handle_request(&topic, payload.to_string().as_bytes(), now, &FakeSigner)
            .into_iter();
        let reply = messages.next().expect("every request gets a reply");
        assert_eq!(reply.kind, MessageKind::Reply);
        let outcome = reply
            .topic
            .strip_prefix(&format!("{topic}/"))
            .unwrap()
            .to_owned();
        (outcome, reply.payload, messages.collect())
    }
}

fn topics(messages: &[Message]) -> Vec<&str> {
    messages
        .iter()
        .map(|message| message.topic.as_str())
        .collect()
}

fn next_job_id(message: &Message) -> Option<&str> {
    message.payload["execution"]["jobId"].as_str()
}

#[test]
fn a_job_runs_from_queued_to_succeeded_with_notify_next_at_each_head_change() {
    let mut fixture = Fixture::new();
    let created = fixture.create("job-1", &[THING]);
    assert_eq!(
        topics(&created),
        [
            "$aws/things/w800-demo-1/jobs/notify",
            "$aws/things/w800-demo-1/jobs/notify-next"
        ]
    );
    assert_eq!(next_job_id(&created[1]), Some("job-1"));
    assert_eq!(
        created[1].payload["execution"]["jobDocument"]["afr_ota"]["files"][0]["update_data_url"],
        "https://s3/b/k?expires=1800",
        "the URL is minted at delivery"
    );
    assert_eq!(created[0].payload["jobs"]["QUEUED"][0]["jobId"], "job-1");

    let (outcome, reply, notices) =
        fixture.request("start-next", json!({ "clientToken": "t1" }), T0 + 1000);
    assert_eq!(outcome, "accepted");
    assert_eq!(reply["clientToken"], "t1");
    assert_eq!(reply["timestamp"], (T0 + 1000) / 1000);
    assert_eq!(reply["execution"]["status"], "IN_PROGRESS");
    assert_eq!(reply["execution"]["versionNumber"], 2);
    assert_eq!(reply["execution"]["startedAt"], (T0 + 1000) / 1000);
    assert_eq!(
        topics(&notices),
        ["$aws/things/w800-demo-1/jobs/notify"],
        "the head did not change: no notify-next"
    );

    let (outcome, reply, notices) = fixture.request(
        "job-1/update",
        json!({ "status": "IN_PROGRESS", "statusDetails": { "receive": "1/4" }, "expectedVersion": 2 }),
        T0 + 2000,
    );
    assert_eq!(
        (outcome.as_str(), &reply.as_object().unwrap().len()),
        ("accepted", &1)
    );
    assert!(notices.is_empty(), "progress changes nothing pending");

    let (outcome, reply, notices) = fixture.request(
        "job-1/update",
        json!({ "status": "SUCCEEDED", "includeJobExecutionState": true, "clientToken": "t2" }),
        T0 + 3000,
    );
    assert_eq!(outcome, "accepted");
    assert_eq!(
        reply["executionState"],
        json!({ "status": "SUCCEEDED", "versionNumber": 4, "statusDetails": { "receive": "1/4" } })
    );
    assert_eq!(
        topics(&notices),
        [
            "$aws/things/w800-demo-1/jobs/notify",
            "$aws/things/w800-demo-1/jobs/notify-next"
        ]
    );
    assert_eq!(notices[0].payload["jobs"], json!({}));
    assert_eq!(
        notices[1].payload,
        json!({ "timestamp": (T0 + 3000) / 1000 })
    );
    assert_eq!(
        fixture.jobs.describe_job("job-1").unwrap()["status"],
        "COMPLETED"
    );
}

#[test]
fn a_job_for_several_things_gives_each_its_own_execution() {
    let mut fixture = Fixture::new();
    let others = ["fleet-02", "fleet-03"];
    let created = fixture.create("job-1", &[THING, others[0], others[1]]);
    // Every target hears of the job on its own topics, and only there.
    for thing in [THING, others[0], others[1]] {
        let mine: Vec<&Message> = created
            .iter()
            .filter(|message| message.topic.starts_with(&format!("$aws/things/{thing}/")))
            .collect();
        assert_eq!(mine.len(), 2, "{thing}: {:?}", topics(&created));
        assert_eq!(next_job_id(mine[1]), Some("job-1"));
        assert_eq!(mine[1].payload["execution"]["thingName"], thing);
    }
    assert_eq!(created.len(), 6);

    let (_, _, notices) = fixture.request("start-next", json!({}), T0);
    assert_eq!(topics(&notices), ["$aws/things/w800-demo-1/jobs/notify"]);
    let (outcome, reply, _) = fixture.request(
        "job-1/update",
        json!({ "status": "SUCCEEDED", "expectedVersion": 2, "includeJobExecutionState": true }),
        T0,
    );
    assert_eq!(outcome, "accepted");
    assert_eq!(reply["executionState"]["versionNumber"], 3);
    // The others' executions are untouched, and the job runs on until they end.
    let described = fixture.jobs.describe_job("job-1").unwrap();
    assert_eq!(described["status"], "IN_PROGRESS");
    for thing in others {
        let execution = &described["executions"][thing];
        assert_eq!(
            (&execution["status"], &execution["versionNumber"]),
            (&json!("QUEUED"), &json!(1)),
            "{thing}"
        );
    }

    // Each other thing takes the job at its own version 1, as its first execution.
    for (thing, status) in others.iter().zip(["FAILED", "SUCCEEDED"]) {
        let request = |jobs: &mut Jobs, operation: &str, payload: Value| {
            let topic = format!("$aws/things/{thing}/jobs/{operation}");
            jobs.handle_request(&topic, payload.to_string().as_bytes(), T0, &FakeSigner)
        };
        let started = request(&mut fixture.jobs, "start-next", json!({}));
        let execution = &started[0].payload["execution"];
        assert_eq!(execution["thingName"], *thing);
        assert_eq!(
            (&execution["versionNumber"], &execution["executionNumber"]),
            (&json!(2), &json!(1))
        );
        let ended = request(
            &mut fixture.jobs,
            "job-1/update",
            json!({ "status": status, "expectedVersion": 2 }),
        );
        assert!(ended[0].topic.ends_with("/update/accepted"), "{thing}");
    }
    let described = fixture.jobs.describe_job("job-1").unwrap();
    assert_eq!(described["status"], "COMPLETED");
    assert_eq!(described["executions"]["fleet-02"]["status"], "FAILED");
}

#[test]
fn a_stale_expected_version_is_a_version_mismatch_with_the_current_state() {
    let mut fixture = Fixture::new();
    fixture.create("job-1", &[THING]);
    fixture.request("start-next", json!({}), T0);
    let (outcome, reply, notices) = fixture.request(
        "job-1/update",
        json!({ "status": "SUCCEEDED", "expectedVersion": 1, "clientToken": "stale" }),
        T0,
    );
    assert_eq!(outcome, "rejected");
    assert_eq!(reply["code"], "VersionMismatch");
    assert_eq!(reply["clientToken"], "stale");
    assert_eq!(reply["executionState"]["status"], "IN_PROGRESS");
    assert_eq!(reply["executionState"]["versionNumber"], 2);
    assert!(notices.is_empty());
}

#[test]
fn step_and_in_progress_timers_time_executions_out() {
    let mut fixture = Fixture::new();
    fixture.create("job-1", &[THING]);
    fixture.request("start-next", json!({ "stepTimeoutInMinutes": 2 }), T0);
    assert_eq!(fixture.jobs.next_deadline(), Some(T0 + 120_000));
    let (_, described, _) = fixture.request("job-1/get", json!({}), T0 + 60_000);
    assert_eq!(
        described["execution"]["approximateSecondsBeforeTimedOut"],
        60
    );
    // Reporting progress with a new step timeout re-arms the timer.
    fixture.request(
        "job-1/update",
        json!({ "status": "IN_PROGRESS", "stepTimeoutInMinutes": 5 }),
        T0 + 60_000,
    );
    assert!(fixture
        .jobs
        .time_out(T0 + 120_000, &FakeSigner)
        .unwrap()
        .is_empty());
    let notices = fixture.jobs.time_out(T0 + 360_000, &FakeSigner).unwrap();
    assert_eq!(notices.len(), 2);
    assert_eq!(notices[1].payload.get("execution"), None);
    let (outcome, reply, _) = fixture.request(
        "job-1/update",
        json!({ "status": "SUCCEEDED" }),
        T0 + 361_000,
    );
    assert_eq!(
        (outcome.as_str(), &reply["code"]),
        ("rejected", &json!("InvalidStateTransition"))
    );
    assert_eq!(reply["executionState"]["status"], "TIMED_OUT");

    let new = NewJob {
        job_id: Some("job-2".into()),
        targets: vec![THING.into()],
        document: json!({}),
        presigned_url_expiry_secs: 60,
        in_progress_timeout_minutes: Some(1),
    };
    fixture.jobs.create_job(new, T0, &FakeSigner).unwrap();
    fixture.request(
        "job-2/update",
        json!({ "status": "IN_PROGRESS" }),
        T0 + 400_000,
    );
    fixture.jobs.time_out(T0 + 460_000, &FakeSigner).unwrap();
    assert_eq!(
        fixture.jobs.describe_job("job-2").unwrap()["executions"][THING]["status"],
        "TIMED_OUT"
    );
}

#[test]
fn a_forced_cancel_ends_an_execution_in_progress_and_the_next_job_follows() {
    let mut fixture = Fixture::new();
    fixture.create("job-1", &[THING]);
    fixture.create("job-2", &[THING]);
    fixture.request("start-next", json!({}), T0);

    let (_, notices) = fixture
        .jobs
        .cancel_job("job-1", false, T0, &FakeSigner)
        .unwrap();
    assert!(
        notices.is_empty(),
        "a plain cancel leaves executions in progress alone"
    );
    let (described, notices) = fixture
        .jobs
        .cancel_job("job-1", true, T0, &FakeSigner)
        .unwrap();
    assert_eq!(described["executions"][THING]["status"], "CANCELED");
    let notify_next = notices
        .iter()
        .find(|notice| notice.topic.ends_with("notify-next"))
        .unwrap();
    assert_eq!(next_job_id(notify_next), Some("job-2"));
    let (outcome, reply, _) =
        fixture.request("job-1/update", json!({ "status": "IN_PROGRESS" }), T0);
    assert_eq!(
        (outcome.as_str(), &reply["code"]),
        ("rejected", &json!("InvalidStateTransition"))
    );
}

#[test]
fn the_next_job_comes_after_the_first_ends() {
    let mut fixture = Fixture::new();
    fixture.create("job-1", &[THING]);
    let second = fixture.create("job-2", &[THING]);
    assert_eq!(
        topics(&second),
        ["$aws/things/w800-demo-1/jobs/notify"],
        "job-1 is still next"
    );
    fixture.request("start-next", json!({}), T0);
    let (_, _, notices) = fixture.request("job-1/update", json!({ "status": "FAILED" }), T0);
    assert_eq!(next_job_id(&notices[1]), Some("job-2"));
    let (_, reply, _) = fixture.request("$next/get", json!({ "includeJobDocument": false }), T0);
    assert_eq!(reply["execution"]["jobId"], "job-2");
    assert_eq!(reply["execution"].get("jobDocument"), None);
    let (_, pending, _) = fixture.request("get", json!({}), T0);
    assert_eq!(pending["queuedJobs"][0]["jobId"], "job-2");
    assert_eq!(pending["inProgressJobs"], json!([]));
}

#[test]
fn requests_that_aws_refuses_are_refused_with_its_error_codes() {
    let mut fixture = Fixture::new();
    fixture.create("job-1", &[THING]);
    let cases = [
        ("start-next", "{not json", "InvalidJson"),
        ("start-next", "[1]", "InvalidRequest"),
        (
            "start-next",
            r#"{"stepTimeoutInMinutes": 0}"#,
            "InvalidRequest",
        ),
        (
            "start-next",
            r#"{"statusDetails": {"a b": "c"}}"#,
            "InvalidRequest",
        ),
        (
            "start-next",
            r#"{"statusDetails": {"k": 1}}"#,
            "InvalidRequest",
        ),
        ("job-1/update", "{}", "InvalidRequest"),
        ("job-1/update", r#"{"status": "DONE"}"#, "InvalidRequest"),
        (
            "job-1/update",
            r#"{"status": "CANCELED"}"#,
            "InvalidStateTransition",
        ),
        (
            "job-1/update",
            r#"{"status": "SUCCEEDED", "expectedVersion": "1"}"#,
            "InvalidRequest",
        ),
        (
            "job-9/update",
            r#"{"status": "SUCCEEDED"}"#,
            "ResourceNotFound",
        ),
        ("job-9/get", "{}", "ResourceNotFound"),
        ("job-1/get", r#"{"executionNumber": 2}"#, "ResourceNotFound"),
        ("job%1/get", "{}", "InvalidTopic"),
    ];
    for (operation, payload, code) in cases {
        let topic = format!("$aws/things/{THING}/jobs/{operation}");
        let messages = fixture
            .jobs
            .handle_request(&topic, payload.as_bytes(), T0, &FakeSigner);
        assert_eq!(
            messages[0].topic,
            format!("{topic}/rejected"),
            "{operation} {payload}"
        );
        assert_eq!(messages[0].payload["code"], code, "{operation} {payload}");
    }
    let (outcome, reply, _) = fixture.request("job-1/update", json!({ "status": "SUCCEEDED" }), T0);
    assert_eq!(
        outcome, "accepted",
        "QUEUED may go straight to SUCCEEDED: {reply}"
    );
    let (outcome, reply, _) = fixture.request("job-1/get", json!({ "clientToken": "d" }), T0);
    assert_eq!(
        (outcome.as_str(), &reply["code"]),
        ("rejected", &json!("TerminalStateReached"))
    );
    assert_eq!(reply["clientToken"], "d");
}

#[test]
fn an_empty_start_next_is_taken_as_an_empty_request() {
    let mut fixture = Fixture::new();
    let topic = format!("$aws/things/{THING}/jobs/start-next");
    let reply = &fixture.jobs.handle_request(&topic, b"", T0, &FakeSigner)[0];
    assert_eq!(reply.topic, format!("{topic}/accepted"));
    assert_eq!(
        reply.payload,
        json!({ "timestamp": T0 / 1000 }),
        "nothing pending: no execution"
    );
}

#[test]
fn jobs_survive_a_restart_and_a_failed_save_changes_nothing() {
    let mut fixture = Fixture::new();
    fixture.create("job-1", &[THING, "w800-demo-2"]);
    fixture.request("start-next", json!({ "stepTimeoutInMinutes": 3 }), T0);
    let reloaded = Jobs::load(fixture.path.clone(), Duration::from_secs(60)).unwrap();
    assert_eq!(reloaded.table, fixture.jobs.table);
    assert_eq!(reloaded.next_deadline(), Some(T0 + 180_000));

    std::fs::remove_dir_all(fixture.path.parent().unwrap()).unwrap();
    let table = fixture.jobs.table.clone();
    let (outcome, reply, _) = fixture.request("job-1/update", json!({ "status": "SUCCEEDED" }), T0);
    assert_eq!(
        (outcome.as_str(), &reply["code"]),
        ("rejected", &json!("InternalError"))
    );
    assert_eq!(fixture.jobs.table, table);
}

#[test]
fn generated_job_ids_are_unique_and_bad_jobs_are_refused() {
    let mut fixture = Fixture::new();
    let new = |job_id: Option<&str>, targets: &[&str]| NewJob {
        job_id: job_id.map(String::from),
        targets: targets.iter().map(|thing| thing.to_string()).collect(),
        document: json!({}),
        presigned_url_expiry_secs: 60,
        in_progress_timeout_minutes: None,
    };
    fixture
        .jobs
        .create_job(new(Some("AFR_OTA-1"), &[THING]), T0, &FakeSigner)
        .unwrap();
    let (generated, _) = fixture
        .jobs
        .create_job(new(None, &[THING]), T0, &FakeSigner)
        .unwrap();
    assert_eq!(generated, "AFR_OTA-2");
    for (job_id, targets) in [
        (Some("AFR_OTA-1"), &[THING][..]),
        (Some("bad id"), &[THING]),
        (None, &[]),
        (None, &["bad/thing"]),
    ] {
        assert!(fixture
            .jobs
            .create_job(new(job_id, targets), T0, &FakeSigner)
            .is_err());
    }
    assert_eq!(
        fixture
            .jobs
            .list_jobs(Some(THING))
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(fixture.jobs.list_jobs(Some("w800-demo-2")), json!([]));
    assert!(fixture
        .jobs
        .cancel_job("nope", true, T0, &FakeSigner)
        .is_err());
}
