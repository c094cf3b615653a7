//! The loopback transport: on a board without a network (QEMU's smartl), the agent's Jobs
//! messages go to an in-memory Jobs API ([`ota_agent::loopback`]) instead of an MQTT broker,
//! and the file comes from the board's memory instead of an HTTPS server. Everything else —
//! the agent task, the download task and its block pool, the platform layer, the boot
//! stage — is what runs with a network.
//!
//! The stand-in runs in a task of its own, fed by a queue as the MQTT task is: the agent only
//! hands its publishes over, and the answers reach it through its queue like a broker's.

use super::JobsSink;
use crate::config::{
    LOOPBACK_REQUESTS, LOOPBACK_STACK_WORDS, MQTT_PAYLOAD_MAX, MQTT_PRIORITY, MQTT_TOPIC_MAX,
    OTA_MESSAGE_MAX,
};
use crate::platform::Platform;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use core::time::Duration;
use kernel::{Mutex, Queue};
use ota_agent::jobs::{JobId, ThingName};
use ota_agent::loopback::{ExecutionRecord, LoopbackJobs, RECORD_LEN};
use ota_agent::ports::NotSent;

/// The job the stand-in holds.
pub const JOB_ID: &str = "loopback-job-1";

/// One publish of the agent, copied into the queue's slot.
struct Publish {
    topic: heapless::String<MQTT_TOPIC_MAX>,
    payload: heapless::Vec<u8, MQTT_PAYLOAD_MAX>,
}

/// The in-memory Jobs API, the memory it keeps its record in, and its task's queue.
pub struct LoopbackLink {
    platform: &'static Platform,
    /// Boxed, so that making the link moves a pointer, not the service, through the shell's
    /// stack.
    jobs: Mutex<Box<LoopbackJobs<'static>>>,
    /// Where the execution's record is kept across restarts.
    record: Mutex<&'static mut [u8]>,
    requests: Queue<Publish>,
}

impl LoopbackLink {
    /// The stand-in for `thing` with the job of `document`: the execution as `record` kept
    /// it, or a new one, queued now. Its task starts with [`LoopbackLink::spawn`].
    pub fn new(
        platform: &'static Platform,
        document: &'static [u8],
        record: &'static mut [u8],
        thing: ThingName,
    ) -> Result<LoopbackLink, String> {
        if record.len() < RECORD_LEN {
            return Err(format!(
                "the board's room for the job record is {} bytes, under {RECORD_LEN}",
                record.len()
            ));
        }
        let execution = ExecutionRecord::parse(record)
            .unwrap_or_else(|| ExecutionRecord::queued(platform.clock.unix_time()));
        let job = JobId::new(JOB_ID).map_err(|e| format!("job id: {e}"))?;
        let jobs = Box::new(
            LoopbackJobs::new(thing, job, document, execution)
                .map_err(|e| format!("loopback cloud: {e}"))?,
        );
        log::info!(
            target: "cloud",
            "loopback Jobs API: job {JOB_ID} {}, document {} bytes",
            jobs.execution().status.as_str(),
            document.len()
        );
        let failed = |e: kernel::Error| format!("{e}");
        Ok(LoopbackLink {
            platform,
            jobs: Mutex::new(jobs).map_err(failed)?,
            record: Mutex::new(record).map_err(failed)?,
            requests: Queue::new(LOOPBACK_REQUESTS).map_err(failed)?,
        })
    }

    /// Starts the stand-in's task, which answers into `sink`.
    pub fn spawn(&'static self, sink: &'static JobsSink) -> Result<(), kernel::Error> {
        kernel::spawn("cloud", LOOPBACK_STACK_WORDS, MQTT_PRIORITY, move || {
            let mut reply = vec![0u8; OTA_MESSAGE_MAX].into_boxed_slice();
            loop {
                if let Some(publish) = self.requests.receive(Duration::MAX) {
                    self.answer(&publish, &mut reply[..], sink);
                }
            }
        })
    }

    /// Hands a publish of the agent to the stand-in's task; never waits.
    pub fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), NotSent> {
        let publish = Publish {
            topic: heapless::String::try_from(topic).map_err(|_| NotSent)?,
            payload: heapless::Vec::from_slice(payload).map_err(|_| NotSent)?,
        };
        self.requests
            .send(publish, Duration::ZERO)
            .map_err(|_| NotSent)
    }

    /// Answers one publish into `sink`, as a broker would deliver the Jobs API's replies,
    /// and keeps the record.
    fn answer(&self, publish: &Publish, reply: &mut [u8], sink: &JobsSink) {
        let now = self.platform.clock.unix_time();
        let mut jobs = self.jobs.lock();
        let before = jobs.execution().status;
        jobs.handle(
            &publish.topic,
            &publish.payload,
            now,
            reply,
            &mut |topic, payload| sink.deliver_payload(topic, payload),
        );
        let execution = jobs.execution();
        self.record.lock()[..RECORD_LEN].copy_from_slice(&execution.to_bytes());
        if execution.status != before {
            log::info!(target: "cloud", "job {JOB_ID}: {}", status_line(execution));
        }
    }

    /// The job's execution, for `ota status`.
    pub fn describe(&self) -> String {
        status_line(self.jobs.lock().execution())
    }
}

fn status_line(execution: &ExecutionRecord) -> String {
    format!(
        "{} (versionNumber {}) {{{}}}",
        execution.status.as_str(),
        execution.version,
        execution.details
    )
}
