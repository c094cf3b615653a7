//! The AWS IoT Jobs device MQTT API through the real broker, as a device uses it.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{delivered_url, Cloud, Device, OTHER_THING, THING};

/// Long enough for a message that is on its way to arrive.
const SETTLE: Duration = Duration::from_millis(500);

#[test]
fn a_job_runs_queued_in_progress_succeeded_with_notify_next_at_each_head_change() {
    let cloud = Cloud::start();
    let mut device = Device::connect(&cloud, THING);
    let (image, _) = cloud.image("app_ota.img", 3000);
    cloud.create_job("ota-1", &image, &[]);

    let next = device.expect("notify-next");
    assert_eq!(next["execution"]["jobId"], "ota-1");
    assert_eq!(next["execution"]["status"], "QUEUED");
    let url = delivered_url(&next["execution"]);
    let bucket = format!("https://s3.w800.test:{}/w800-ota/", cloud.https_port);
    assert!(
        url.starts_with(&bucket) && url.contains("-app_ota.img?"),
        "{url}"
    );
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let notify = device.expect("notify");
    assert_eq!(notify["jobs"]["QUEUED"][0]["jobId"], "ota-1");

    let (outcome, started) = device.request(
        "start-next",
        json!({ "statusDetails": { "self_test": "none" } }),
    );
    assert_eq!(outcome, "accepted", "{started}");
    let execution = &started["execution"];
    assert_eq!(execution["status"], "IN_PROGRESS");
    assert_eq!(execution["versionNumber"], 2);
    assert_eq!(execution["thingName"], THING);
    assert!(
        execution["startedAt"].is_u64() && started["timestamp"].is_u64(),
        "{started}"
    );
    assert!(
        delivered_url(execution).contains("X-Amz-Signature="),
        "{started}"
    );

    let (outcome, reply) = device.request(
        "ota-1/update",
        json!({ "status": "IN_PROGRESS", "expectedVersion": 2, "statusDetails": { "receive": "1/1" } }),
    );
    assert_eq!(outcome, "accepted", "{reply}");
    let execution = cloud.execution_status("ota-1", THING);
    assert_eq!(execution["status"], "IN_PROGRESS");
    assert_eq!(execution["statusDetails"], json!({ "receive": "1/1" }));

    let (outcome, reply) = device.request(
        "ota-1/update",
        json!({ "status": "SUCCEEDED", "expectedVersion": 3, "includeJobExecutionState": true,
                "statusDetails": { "reason": "accepted v1.0.1" } }),
    );
    assert_eq!(outcome, "accepted", "{reply}");
    assert_eq!(reply["executionState"]["status"], "SUCCEEDED");
    assert_eq!(reply["executionState"]["versionNumber"], 4);

    // notify-next fired when the job was queued and when it ended, never in between: the
    // next one after the first says that the queue is empty, and no other follows.
    let ended = device.expect("notify-next");
    assert_eq!(ended.get("execution"), None, "{ended}");
    let more = device.collect("notify-next", SETTLE);
    assert!(more.is_empty(), "{more:?}");
    let described = cloud.cli(&["describe-job", "ota-1"]);
    assert_eq!(described["status"], "COMPLETED");
    assert_eq!(
        described["executions"][THING]["statusDetails"]["reason"],
        "accepted v1.0.1"
    );
}

#[test]
fn a_stale_expected_version_is_rejected_with_version_mismatch() {
    let cloud = Cloud::start();
    let mut device = Device::connect(&cloud, THING);
    let (image, _) = cloud.image("app_ota.img", 100);
    cloud.create_job("ota-1", &image, &[]);
    device.request("start-next", json!({}));

    let (outcome, reply) = device.request(
        "ota-1/update",
        json!({ "status": "SUCCEEDED", "expectedVersion": 1 }),
    );
    assert_eq!(outcome, "rejected");
    assert_eq!(reply["code"], "VersionMismatch");
    assert_eq!(reply["executionState"]["versionNumber"], 2);
    assert_eq!(reply["executionState"]["status"], "IN_PROGRESS");
    assert!(reply["timestamp"].is_u64(), "{reply}");
    assert_eq!(
        cloud.execution_status("ota-1", THING)["status"],
        "IN_PROGRESS"
    );
}

#[test]
fn executions_time_out_after_their_step_timeout() {
    // A minute lasts a second in the test cloud (CLOUD_MINUTE_SECS=1).
    let cloud = Cloud::start();
    let mut device = Device::connect(&cloud, THING);
    let (image, _) = cloud.image("app_ota.img", 100);
    cloud.create_job("step", &image, &[]);
    device.expect("notify-next");
    let (_, started) = device.request("start-next", json!({ "stepTimeoutInMinutes": 1 }));
    assert_eq!(started["execution"]["approximateSecondsBeforeTimedOut"], 1);
    let started_at = Instant::now();
    let next = device.expect("notify-next");
    assert_eq!(next.get("execution"), None, "{next}");
    assert!(
        started_at.elapsed() < Duration::from_secs(5),
        "{:?}",
        started_at.elapsed()
    );
    assert_eq!(cloud.execution_status("step", THING)["status"], "TIMED_OUT");
    let (outcome, reply) = device.request("step/update", json!({ "status": "SUCCEEDED" }));
    assert_eq!(
        (outcome.as_str(), &reply["code"]),
        ("rejected", &json!("InvalidStateTransition"))
    );

    // The job's own timeout (--step-timeout, AWS's timeoutConfig) runs from IN_PROGRESS on.
    cloud.create_job("job-timeout", &image, &["--step-timeout", "1"]);
    device.expect("notify-next");
    device.request("job-timeout/update", json!({ "status": "IN_PROGRESS" }));
    let next = device.expect("notify-next");
    assert_eq!(next.get("execution"), None, "{next}");
    assert_eq!(
        cloud.execution_status("job-timeout", THING)["status"],
        "TIMED_OUT"
    );
}

#[test]
fn a_forced_cancel_in_progress_gives_notify_next_without_the_job() {
    let cloud = Cloud::start();
    let mut device = Device::connect(&cloud, THING);
    let (image, _) = cloud.image("app_ota.img", 100);
    cloud.create_job("first", &image, &[]);
    cloud.create_job("second", &image, &[]);
    device.request("start-next", json!({}));
    assert_eq!(
        device.collect("notify-next", SETTLE).len(),
        1,
        "only the first job was ever next"
    );

    cloud.cli(&["cancel-job", "first"]);
    assert!(
        device.collect("notify-next", SETTLE).is_empty(),
        "a plain cancel leaves a started execution alone"
    );
    assert_eq!(
        cloud.execution_status("first", THING)["status"],
        "IN_PROGRESS"
    );

    let described = cloud.cli(&["cancel-job", "first", "--force"]);
    assert_eq!(described["executions"][THING]["status"], "CANCELED");
    let next = device.expect("notify-next");
    assert_eq!(next["execution"]["jobId"], "second", "{next}");
    let (outcome, reply) = device.request("first/update", json!({ "status": "IN_PROGRESS" }));
    assert_eq!(
        (outcome.as_str(), &reply["code"]),
        ("rejected", &json!("InvalidStateTransition"))
    );
}

#[test]
fn the_second_queued_job_becomes_next_when_the_first_ends() {
    let cloud = Cloud::start();
    let mut device = Device::connect(&cloud, THING);
    let (image, _) = cloud.image("app_ota.img", 100);
    cloud.create_job("first", &image, &[]);
    cloud.create_job("second", &image, &[]);
    let (_, started) = device.request("start-next", json!({}));
    assert_eq!(started["execution"]["jobId"], "first");
    let (_, pending) = device.request("get", json!({}));
    assert_eq!(pending["inProgressJobs"][0]["jobId"], "first");
    assert_eq!(pending["queuedJobs"][0]["jobId"], "second");
    device.collect("notify-next", SETTLE);

    device.request(
        "first/update",
        json!({ "status": "FAILED", "statusDetails": { "reason": "rejected: 0x1" } }),
    );
    let next = device.expect("notify-next");
    assert_eq!(next["execution"]["jobId"], "second");
    assert_eq!(next["execution"]["status"], "QUEUED");
    let (_, described) = device.request("$next/get", json!({}));
    assert_eq!(described["execution"]["jobId"], "second");
    let (outcome, started) = device.request("start-next", json!({}));
    assert_eq!(
        (outcome.as_str(), &started["execution"]["jobId"]),
        ("accepted", &json!("second"))
    );
}

#[test]
fn requests_get_aws_error_codes_and_echo_the_client_token() {
    let cloud = Cloud::start();
    let mut device = Device::connect(&cloud, THING);
    let topic = format!("$aws/things/{THING}/jobs/start-next");
    device.publish(&topic, "{not json");
    let rejected = device.expect("start-next/rejected");
    assert_eq!(rejected["code"], "InvalidJson");

    let (outcome, reply) = device.request("no-such-job/get", json!({}));
    assert_eq!(
        (outcome.as_str(), &reply["code"]),
        ("rejected", &json!("ResourceNotFound"))
    );
    let (outcome, reply) = device.request("start-next", json!({ "stepTimeoutInMinutes": 20000 }));
    assert_eq!(
        (outcome.as_str(), &reply["code"]),
        ("rejected", &json!("InvalidRequest"))
    );
    let (outcome, reply) = device.request("$next/get", json!({}));
    assert_eq!(outcome, "accepted");
    assert_eq!(reply.get("execution"), None, "nothing pending: {reply}");
    assert!(reply["clientToken"]
        .as_str()
        .is_some_and(|token| token.ends_with(THING)));
}

#[test]
fn jobs_survive_a_restart_of_the_service() {
    let cloud = Cloud::start();
    let (image, _) = cloud.image("app_ota.img", 100);
    cloud.create_job("kept", &image, &[]);
    cloud.create_job("queued", &image, &[]);
    let started_version = {
        let mut device = Device::connect(&cloud, THING);
        let (_, started) = device.request("start-next", json!({ "stepTimeoutInMinutes": 60 }));
        started["execution"]["versionNumber"].clone()
    };

    cloud.down();
    cloud.up();

    let mut device = Device::connect(&cloud, THING);
    let (_, described) = device.request("$next/get", json!({}));
    assert_eq!(described["execution"]["jobId"], "kept");
    assert_eq!(described["execution"]["status"], "IN_PROGRESS");
    assert_eq!(described["execution"]["versionNumber"], started_version);
    assert!(described["execution"]["approximateSecondsBeforeTimedOut"]
        .as_u64()
        .is_some_and(|secs| secs > 30));
    let (outcome, _) = device.request(
        "kept/update",
        json!({ "status": "SUCCEEDED", "expectedVersion": started_version }),
    );
    assert_eq!(outcome, "accepted");
    assert_eq!(device.expect("notify-next")["execution"]["jobId"], "queued");
    let jobs: Vec<Value> = cloud
        .cli(&["list-jobs"])
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(jobs.len(), 2);
}

#[test]
fn a_device_cannot_touch_another_things_topics() {
    let cloud = Cloud::start();
    let mut device = Device::connect(&cloud, THING);
    let mut other = Device::connect(&cloud, OTHER_THING);
    let snooping = device.subscribe(&format!("$aws/things/{OTHER_THING}/jobs/#"));
    let (image, _) = cloud.image("app_ota.img", 100);
    cloud.cli(&[
        "create-ota-job",
        "--thing",
        OTHER_THING,
        "--file",
        image.to_str().unwrap(),
        "--job-id",
        "theirs",
    ]);
    assert_eq!(other.expect("notify-next")["execution"]["jobId"], "theirs");

    // Starting the other thing's job from this device reaches no one.
    device.publish(&format!("$aws/things/{OTHER_THING}/jobs/start-next"), "{}");
    let heard: Vec<String> = device
        .drain(SETTLE)
        .into_iter()
        .map(|(topic, _)| topic)
        .collect();
    assert!(
        heard
            .iter()
            .all(|topic| topic.starts_with(&format!("$aws/things/{THING}/"))),
        "{THING} heard {heard:?} (SUBACK {snooping:?})"
    );
    assert_eq!(
        cloud.execution_status("theirs", OTHER_THING)["status"],
        "QUEUED"
    );

    // A certificate from another CA does not get in, even with a valid thing name.
    let mut stranger = Device::connect_with(
        &cloud,
        "w800-demo-1-foreign",
        &cloud.pki_file("foreign-w800-demo-1.crt"),
        &cloud.pki_file("foreign-w800-demo-1.key"),
    );
    assert!(
        stranger.wait_connected().is_err(),
        "the broker accepted a foreign certificate"
    );
}

#[test]
fn the_jobs_service_survives_a_broker_restart() {
    let cloud = Cloud::start();
    cloud.script(&["fault", "restart-broker", "1"]);
    cloud.wait_until_serving();

    let mut device = Device::connect(&cloud, THING);
    let (image, _) = cloud.image("app_ota.img", 100);
    cloud.create_job("after-restart", &image, &[]);
    assert_eq!(
        device.expect("notify-next")["execution"]["jobId"],
        "after-restart"
    );
    let (outcome, _) = device.request("start-next", json!({}));
    assert_eq!(outcome, "accepted");
}

#[test]
fn reply_faults_drop_delay_and_duplicate() {
    let cloud = Cloud::start();
    let mut device = Device::connect(&cloud, THING);

    cloud.cli(&["fault", "drop-replies", "on", "--times", "1"]);
    assert!(
        device
            .try_request("get", json!({}), Duration::from_secs(1))
            .is_none(),
        "the reply was not dropped"
    );
    assert_eq!(
        device.request("get", json!({})).0,
        "accepted",
        "the knob acts once"
    );

    cloud.cli(&["fault", "delay-replies", "700"]);
    let asked = Instant::now();
    device.request("get", json!({}));
    assert!(
        asked.elapsed() >= Duration::from_millis(700),
        "{:?}",
        asked.elapsed()
    );
    cloud.cli(&["fault", "delay-replies", "off"]);

    cloud.cli(&["fault", "duplicate-notifications", "on"]);
    let (image, _) = cloud.image("app_ota.img", 100);
    cloud.create_job("twice", &image, &[]);
    let first = device.expect("notify-next");
    let copies = device.collect("notify-next", SETTLE);
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(copies[0], first);
    let faults = cloud.cli(&["fault"]);
    assert_eq!(faults["duplicate-notifications"]["value"], "on");
    cloud.cli(&["fault", "clear"]);
    assert_eq!(cloud.cli(&["fault"]), json!({}));

    let error = cloud.cli_fails(&["fault", "no-such-knob", "on"]);
    assert!(error.contains("unknown fault"), "{error}");
}
