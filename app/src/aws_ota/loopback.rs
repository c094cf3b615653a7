//! The loopback transport: on a board without a network (QEMU's smartl), the agent's Jobs
//! messages go to an in-memory Jobs API ([`ota_agent::loopback`]) instead of an MQTT broker,
//! and the file comes from the board's memory instead of an HTTPS server. Everything else —
//! the agent task, the download task and its block pool, the platform layer, the boot
//! stage — is what runs with a network.

use super::JobsSink;
use crate::config::OTA_MESSAGE_MAX;
use crate::platform::Platform;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use kernel::Mutex;
use ota_agent::jobs::{JobId, ThingName};
use ota_agent::loopback::{ExecutionRecord, LoopbackJobs, RECORD_LEN};

/// The job the stand-in holds.
pub const JOB_ID: &str = "loopback-job-1";

/// The in-memory Jobs API with the memory it keeps its record in.
pub struct LoopbackLink {
    platform: &'static Platform,
    state: Mutex<State>,
}

struct State {
    jobs: LoopbackJobs<'static>,
    /// Where the execution's record is kept across restarts.
    record: &'static mut [u8],
    /// The stand-in's replies are written here.
    reply: Box<[u8; OTA_MESSAGE_MAX]>,
}

impl LoopbackLink {
    /// The stand-in for `thing` with the job of `document`: the execution as `record` kept
    /// it, or a new one, queued now.
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
        let jobs = LoopbackJobs::new(thing, job, document, execution)
            .map_err(|e| format!("loopback cloud: {e}"))?;
        log::info!(
            target: "cloud",
            "loopback Jobs API: job {JOB_ID} {}, document {} bytes",
            jobs.execution().status.as_str(),
            document.len()
        );
        Ok(LoopbackLink {
            platform,
            state: Mutex::new(State {
                jobs,
                record,
                reply: Box::new([0; OTA_MESSAGE_MAX]),
            })
            .map_err(|e| format!("{e}"))?,
        })
    }

    /// Hands a publish of the agent to the stand-in; its answers go to `sink` as if the
    /// broker had delivered them, and the record is kept.
    pub fn publish(&self, topic: &str, payload: &[u8], sink: &JobsSink) {
        let now = self.platform.clock.unix_time();
        let mut state = self.state.lock();
        let State {
            jobs,
            record,
            reply,
        } = &mut *state;
        let before = jobs.execution().status;
        jobs.handle(
            topic,
            payload,
            now,
            &mut reply[..],
            &mut |topic, payload| sink.deliver_payload(topic, payload),
        );
        let execution = jobs.execution();
        record[..RECORD_LEN].copy_from_slice(&execution.to_bytes());
        if execution.status != before {
            log::info!(target: "cloud", "job {JOB_ID}: {}", status_line(execution));
        }
    }

    /// The job's execution, for `ota status`.
    pub fn describe(&self) -> String {
        status_line(self.state.lock().jobs.execution())
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
