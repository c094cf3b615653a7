//! `cloud-svc serve`: the jobs service and the file server in one process, and the control
//! operations that `scripts/cloud` sends it.
//!
//! Threads: the MQTT connection (handles device requests in order), the outbox (publishes),
//! the timer (times executions out), the file server (one thread per connection) and the
//! control socket (the main thread). The jobs live behind one mutex; whoever changes them
//! publishes the resulting messages before letting go, so notifications keep their order.

use std::fs;
use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::args::Args;
use crate::control;
use crate::faults::{Faults, Knob};
use crate::files::{self, Bucket, FileServer};
use crate::jobs::{Jobs, Message, Millis, NewJob, UrlSigner};
use crate::mqtt::{self, LinkStatus, Outgoing};
use crate::ota::{self, OtaFile};
use crate::presign::{AccessKey, Presigner, MAX_EXPIRES_SECS};
use crate::tls;

/// The MQTT identity the broker's ACL lets serve every thing.
const JOBS_CLIENT_ID: &str = "jobs-svc";
/// AWS IoT's range for `presignedUrlConfig.expiresInSec` is 60-3600 s; shorter is allowed here
/// so that tests need not wait a minute for a URL to expire.
const URL_EXPIRY_SECS: std::ops::RangeInclusive<u64> = 1..=3600;
/// `timeoutConfig.inProgressTimeoutInMinutes`: one minute to seven days.
const IN_PROGRESS_TIMEOUT_MINUTES: std::ops::RangeInclusive<u32> = 1..=10_080;
/// The longest the timer sleeps with no deadline in sight.
const TIMER_IDLE: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The run directory: `state/` (jobs, objects, the access key) and `control.sock`.
    pub dir: PathBuf,
    /// The test PKI (certs/make-pki's output).
    pub pki: PathBuf,
    pub mqtt_host: String,
    pub mqtt_port: u16,
    /// Where the file server listens.
    pub bind: IpAddr,
    pub https_port: u16,
    /// The file server's name in presigned URLs.
    pub s3_host: String,
    pub bucket: String,
    /// How long a "minute" of the step and in-progress timeouts lasts: 60 s, except in tests.
    pub minute: Duration,
}

impl ServeConfig {
    pub fn from_args(dir: PathBuf, args: &mut Args) -> Result<Self> {
        let minute_secs: f64 = args.parsed("--minute-secs")?.unwrap_or(60.0);
        if !(minute_secs.is_finite() && minute_secs > 0.0 && minute_secs <= 60.0) {
            bail!("--minute-secs must be more than 0 and at most 60");
        }
        Ok(Self {
            dir,
            pki: PathBuf::from(args.required("--pki")?),
            mqtt_host: args
                .option("--mqtt-host")?
                .unwrap_or_else(|| "127.0.0.1".into()),
            mqtt_port: args.parsed("--mqtt-port")?.unwrap_or(8883),
            bind: args
                .parsed("--bind")?
                .unwrap_or(IpAddr::from([127, 0, 0, 1])),
            https_port: args.parsed("--https-port")?.unwrap_or(8443),
            s3_host: args
                .option("--s3-host")?
                .unwrap_or_else(|| "s3.w800.test".into()),
            bucket: args
                .option("--bucket")?
                .unwrap_or_else(|| "w800-ota".into()),
            minute: Duration::from_secs_f64(minute_secs),
        })
    }

    /// `https://<s3 host>[:port]`, as devices reach the file server.
    fn s3_endpoint(&self) -> String {
        match self.https_port {
            443 => format!("https://{}", self.s3_host),
            port => format!("https://{}:{port}", self.s3_host),
        }
    }

    fn pki_file(&self, name: &str) -> PathBuf {
        self.pki.join(name)
    }
}

/// Mints the presigned URLs of delivered job documents, honouring the url-expiry and
/// session-token knobs.
struct DeliverySigner {
    presigner: Arc<Presigner>,
    faults: Arc<Faults>,
}

impl UrlSigner for DeliverySigner {
    fn presign_get(&self, url: &str, expires_in: Duration) -> Result<String> {
        let expires_in = self
            .faults
            .take(Knob::UrlExpiry)
            .map_or(expires_in, Duration::from_secs);
        let token_len = self
            .faults
            .take(Knob::SessionToken)
            .and_then(|len| usize::try_from(len).ok());
        self.presigner
            .presign("GET", url, SystemTime::now(), expires_in, token_len)
    }
}

/// What `create-ota-job` asks for.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtaJobRequest {
    pub things: Vec<String>,
    /// The image to upload, sign and deliver.
    pub file: PathBuf,
    /// The code-signing key; the test PKI's by default.
    pub sign_key: Option<PathBuf>,
    pub job_id: Option<String>,
    /// The object key; by default the file's name behind a digest of its content.
    pub key: Option<String>,
    /// `filepath` in the document; the file's name by default.
    pub file_path: Option<String>,
    /// `certfile` in the document.
    pub cert_file: Option<String>,
    /// `presignedUrlConfig.expiresInSec`.
    pub expires_secs: u64,
    /// `timeoutConfig.inProgressTimeoutInMinutes`.
    pub step_timeout_minutes: Option<u32>,
}

/// The running cloud, shared by every thread.
pub struct Cloud {
    config: ServeConfig,
    jobs: Mutex<Jobs>,
    /// Signalled whenever the jobs change, so that the timer looks at the deadlines again.
    jobs_changed: Condvar,
    outbox: Sender<Outgoing>,
    signer: DeliverySigner,
    presigner: Arc<Presigner>,
    faults: Arc<Faults>,
    bucket: Bucket,
    link: LinkStatus,
}

/// Milliseconds since the Unix epoch, now.
fn now() -> Millis {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            Millis::try_from(since.as_millis()).unwrap_or(Millis::MAX)
        })
}

/// Runs the cloud until the process is killed; state is written atomically, so any moment
/// will do.
pub fn serve(config: ServeConfig) -> Result<()> {
    let state = config.dir.join("state");
    fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
    let presigner = Arc::new(Presigner::new(AccessKey::load_or_create(
        &state.join("access-key.json"),
    )?));
    let faults = Arc::new(Faults::default());
    let bucket = Bucket::new(&config.bucket, state.join("bucket"))?;
    let jobs = Jobs::load(state.join("jobs.json"), config.minute)?;

    // Listen before anything runs, so that a port or a cloud already in use fails the start.
    let https = TcpListener::bind((config.bind, config.https_port))
        .with_context(|| format!("listening on {}:{}", config.bind, config.https_port))?;
    let control = control::bind(&config.dir.join(control::SOCKET))?;
    let server_tls = tls::server_config(&config.pki_file("s3.crt"), &config.pki_file("s3.key"))?;
    let client_tls = tls::client_config(
        &config.pki_file("ca.crt"),
        Some((
            &config.pki_file("jobs-svc.crt"),
            &config.pki_file("jobs-svc.key"),
        )),
    )?;
    let (client, connection) = rumqttc::Client::new(
        mqtt::options(
            JOBS_CLIENT_ID,
            &config.mqtt_host,
            config.mqtt_port,
            client_tls,
        ),
        64,
    );
    let (outbox, outbox_receiver) = mpsc::channel();

    let cloud = Arc::new(Cloud {
        signer: DeliverySigner {
            presigner: Arc::clone(&presigner),
            faults: Arc::clone(&faults),
        },
        jobs: Mutex::new(jobs),
        jobs_changed: Condvar::new(),
        outbox,
        presigner: Arc::clone(&presigner),
        faults: Arc::clone(&faults),
        bucket: bucket.clone(),
        link: LinkStatus::default(),
        config,
    });
    let outbox_faults = Arc::clone(&faults);
    thread::Builder::new()
        .name("outbox".into())
        .spawn(move || mqtt::run_outbox(client, outbox_receiver, &outbox_faults))?;
    let mqtt_cloud = Arc::clone(&cloud);
    thread::Builder::new().name("mqtt".into()).spawn(move || {
        let cloud = &mqtt_cloud;
        mqtt::run_connection(connection, &cloud.link, &cloud.outbox, |topic, payload| {
            cloud.handle_device_request(topic, payload);
        });
    })?;
    let timer_cloud = Arc::clone(&cloud);
    thread::Builder::new()
        .name("timer".into())
        .spawn(move || timer_cloud.run_timer())?;
    let file_server = Arc::new(FileServer::new(bucket, presigner, faults, server_tls));
    thread::Builder::new()
        .name("files".into())
        .spawn(move || file_server.serve(https))?;

    eprintln!(
        "cloud-svc: jobs via mqtts://{}:{}, files at {} (listening on {}:{}), run dir {}",
        cloud.config.mqtt_host,
        cloud.config.mqtt_port,
        cloud.config.s3_endpoint(),
        cloud.config.bind,
        cloud.config.https_port,
        cloud.config.dir.display()
    );
    control::serve(control, &cloud);
    Ok(())
}

impl Cloud {
    fn lock_jobs(&self) -> MutexGuard<'_, Jobs> {
        // Every change to the jobs either commits or is rolled back before it returns, so the
        // table is whole even if a thread panicked while holding the lock.
        self.jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Publishes while the caller still holds the jobs, so that messages keep their order.
    fn publish(&self, _jobs: &MutexGuard<'_, Jobs>, messages: Vec<Message>) {
        for message in messages {
            // The outbox ends only when this process does.
            let _ = self.outbox.send(Outgoing::Publish(message));
        }
        self.jobs_changed.notify_all();
    }

    fn handle_device_request(&self, topic: &str, payload: &[u8]) {
        let mut jobs = self.lock_jobs();
        let messages = jobs.handle_request(topic, payload, now(), &self.signer);
        self.publish(&jobs, messages);
    }

    /// Times executions out when their timers run out, for ever.
    fn run_timer(&self) {
        let mut jobs = self.lock_jobs();
        loop {
            let now = now();
            let wait = match jobs.time_out(now, &self.signer) {
                Ok(messages) => {
                    self.publish(&jobs, messages);
                    jobs.next_deadline().map_or(TIMER_IDLE, |deadline| {
                        Duration::from_millis(deadline.saturating_sub(now)).min(TIMER_IDLE)
                    })
                }
                Err(error) => {
                    eprintln!("jobs: cannot time executions out: {error:#}");
                    Duration::from_secs(1)
                }
            };
            jobs = self
                .jobs_changed
                .wait_timeout(jobs, wait)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    pub fn status(&self) -> Value {
        json!({
            "mqtt": {
                "broker": format!("{}:{}", self.config.mqtt_host, self.config.mqtt_port),
                "connected": self.link.connected(),
                "subscribed": self.link.subscribed(),
            },
            "files": {
                "endpoint": self.config.s3_endpoint(),
                "listen": format!("{}:{}", self.config.bind, self.config.https_port),
                "bucket": self.bucket.name(),
            },
            "jobs": self.lock_jobs().job_count(),
            "faults": self.faults.to_json(),
        })
    }

    /// Stores a file as an object and tells its URL.
    pub fn upload(&self, file: &Path, key: Option<&str>) -> Result<Value> {
        let contents = files::read_upload(file)?;
        let key = object_key(file, key)?;
        self.bucket.put(&key, &contents)?;
        Ok(json!({
            "bucket": self.bucket.name(),
            "key": key,
            "size": contents.len(),
            "url": self.bucket.object_url(&self.config.s3_endpoint(), &key),
        }))
    }

    /// Uploads and signs an image and creates an OTA job for it, as AWS IoT's CreateOTAUpdate
    /// does with code signing and an S3 presigned-URL configuration.
    pub fn create_ota_job(&self, request: OtaJobRequest) -> Result<Value> {
        if !URL_EXPIRY_SECS.contains(&request.expires_secs) {
            bail!("--expires must be 1-3600 seconds");
        }
        if let Some(minutes) = request.step_timeout_minutes {
            if !IN_PROGRESS_TIMEOUT_MINUTES.contains(&minutes) {
                bail!("--step-timeout must be 1-10080 minutes");
            }
        }
        let image = files::read_upload(&request.file)?;
        let sign_key = request
            .sign_key
            .clone()
            .unwrap_or_else(|| self.config.pki_file("code-signing.key"));
        let signature = ota::sign_image(&ota::load_signing_key(&sign_key)?, &image);
        let file_name = object_key(&request.file, None)?;
        let key = match request.key.as_deref() {
            Some(key) => object_key(&request.file, Some(key))?,
            // Named after the content, so that a later image never replaces one that a job
            // is still delivering (AWS OTA wants a versioned bucket for the same reason).
            None => content_addressed_key(&file_name, &image),
        };
        self.bucket.put(&key, &image)?;
        let object_url = self.bucket.object_url(&self.config.s3_endpoint(), &key);
        let document = ota::job_document(&OtaFile {
            file_path: request.file_path.as_deref().unwrap_or(&file_name),
            size: image.len() as u64,
            cert_file: request.cert_file.as_deref().unwrap_or("code-signing.crt"),
            object_url: &object_url,
            signature_der: &signature,
        });
        let new = NewJob {
            job_id: request.job_id,
            targets: request.things,
            document,
            presigned_url_expiry_secs: request.expires_secs,
            in_progress_timeout_minutes: request.step_timeout_minutes,
        };
        let mut jobs = self.lock_jobs();
        let (job_id, messages) = jobs.create_job(new, now(), &self.signer)?;
        self.publish(&jobs, messages);
        jobs.describe_job(&job_id)
    }

    /// Creates a job with the document in `path` as it is, as CreateJob with `--document`
    /// does: the service checks only that it is JSON (an object), not what it says.
    pub fn create_job(
        &self,
        things: Vec<String>,
        path: &Path,
        job_id: Option<String>,
    ) -> Result<Value> {
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let document: Value = serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a JSON document", path.display()))?;
        if !document.is_object() {
            bail!("{}: a job document is a JSON object", path.display());
        }
        let new = NewJob {
            job_id,
            targets: things,
            document,
            presigned_url_expiry_secs: control::DEFAULT_URL_EXPIRY_SECS,
            in_progress_timeout_minutes: None,
        };
        let mut jobs = self.lock_jobs();
        let (job_id, messages) = jobs.create_job(new, now(), &self.signer)?;
        self.publish(&jobs, messages);
        jobs.describe_job(&job_id)
    }

    pub fn cancel_job(&self, job_id: &str, force: bool) -> Result<Value> {
        let mut jobs = self.lock_jobs();
        let (described, messages) = jobs.cancel_job(job_id, force, now(), &self.signer)?;
        self.publish(&jobs, messages);
        Ok(described)
    }

    pub fn describe_job(&self, job_id: &str) -> Result<Value> {
        self.lock_jobs().describe_job(job_id)
    }

    pub fn list_jobs(&self, thing: Option<&str>) -> Value {
        self.lock_jobs().list_jobs(thing)
    }

    pub fn set_fault(&self, knob: Knob, value: Option<u64>, times: Option<u32>) -> Value {
        self.faults.set(knob, value, times);
        self.faults.to_json()
    }

    pub fn clear_faults(&self) -> Value {
        self.faults.clear();
        self.faults.to_json()
    }

    pub fn faults(&self) -> Value {
        self.faults.to_json()
    }

    /// A presigned URL for an object, as `aws s3 presign` makes.
    pub fn presign(&self, key: &str, method: &str, expires_secs: u64) -> Result<Value> {
        if !(1..=MAX_EXPIRES_SECS).contains(&expires_secs) {
            bail!("--expires must be 1-{MAX_EXPIRES_SECS} seconds");
        }
        if !files::is_valid_key(key) {
            bail!("invalid object key {key:?}");
        }
        let url = self.bucket.object_url(&self.config.s3_endpoint(), key);
        let presigned = self.presigner.presign(
            method,
            &url,
            SystemTime::now(),
            Duration::from_secs(expires_secs),
            None,
        )?;
        Ok(json!({ "url": presigned }))
    }
}

/// `<first 16 hex digits of the SHA-256>-<file name>`.
fn content_addressed_key(file_name: &str, contents: &[u8]) -> String {
    let digest = Sha256::digest(contents);
    let prefix: String = digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("{prefix}-{file_name}")
}

/// The object key for an uploaded file: the one given, or the file's name.
fn object_key(file: &Path, key: Option<&str>) -> Result<String> {
    let key = match key {
        Some(key) => key.to_owned(),
        None => file
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| anyhow!("{} has no usable file name; give --key", file.display()))?
            .to_owned(),
    };
    if !files::is_valid_key(&key) {
        bail!("object key {key:?} must be 1-255 characters of a-z A-Z 0-9 . _ - (give --key)");
    }
    Ok(key)
}
