//! The control plane: `cloud-svc --dir DIR <command>` sends one command to the running service
//! over the Unix socket in its run directory and prints the JSON answer.
//!
//! The protocol is one JSON line each way; requests are capped in size and time.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::args::Args;
use crate::faults::Knob;
use crate::service::{Cloud, OtaJobRequest};

/// The socket's name in the run directory.
pub const SOCKET: &str = "control.sock";
const MAX_REQUEST_BYTES: u64 = 64 * 1024;
const SERVER_IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Creating a job reads, signs and stores an image.
const CLIENT_IO_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_URL_EXPIRY_SECS: u64 = 1800;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Command {
    Status,
    Upload {
        file: PathBuf,
        key: Option<String>,
    },
    CreateOtaJob(OtaJobRequest),
    /// A job with a document given as it is (CreateJob with `--document`).
    CreateJob {
        things: Vec<String>,
        document: PathBuf,
        job_id: Option<String>,
    },
    CancelJob {
        job_id: String,
        force: bool,
    },
    DescribeJob {
        job_id: String,
    },
    ListJobs {
        thing: Option<String>,
    },
    Fault {
        knob: Knob,
        value: Option<u64>,
        times: Option<u32>,
    },
    ClearFaults,
    ListFaults,
    Presign {
        key: String,
        method: String,
        expires_secs: u64,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Reply {
    Ok(Value),
    Error(String),
}

/// Binds the control socket; refuses if a live service already answers on it.
pub fn bind(path: &Path) -> Result<UnixListener> {
    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        if !metadata.file_type().is_socket() {
            bail!("{} exists and is not a socket", path.display());
        }
        if UnixStream::connect(path).is_ok() {
            bail!("a cloud-svc is already running on {}", path.display());
        }
        std::fs::remove_file(path)
            .with_context(|| format!("removing the stale {}", path.display()))?;
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Answers commands one at a time, for ever.
pub fn serve(listener: UnixListener, cloud: &Cloud) {
    for stream in listener.incoming() {
        let answered = stream.and_then(|stream| answer(stream, cloud));
        if let Err(error) = answered {
            eprintln!("control: {error}");
        }
    }
}

fn answer(stream: UnixStream, cloud: &Cloud) -> io::Result<()> {
    stream.set_read_timeout(Some(SERVER_IO_TIMEOUT))?;
    stream.set_write_timeout(Some(SERVER_IO_TIMEOUT))?;
    let mut line = String::new();
    BufReader::new((&stream).take(MAX_REQUEST_BYTES)).read_line(&mut line)?;
    let reply = match serde_json::from_str::<Command>(&line) {
        Ok(command) => match execute(cloud, command) {
            Ok(value) => Reply::Ok(value),
            Err(error) => Reply::Error(format!("{error:#}")),
        },
        Err(error) => Reply::Error(format!("bad control request: {error}")),
    };
    let mut json = serde_json::to_vec(&reply).map_err(io::Error::other)?;
    json.push(b'\n');
    (&stream).write_all(&json)
}

fn execute(cloud: &Cloud, command: Command) -> Result<Value> {
    Ok(match command {
        Command::Status => cloud.status(),
        Command::Upload { file, key } => cloud.upload(&file, key.as_deref())?,
        Command::CreateOtaJob(request) => cloud.create_ota_job(request)?,
        Command::CreateJob {
            things,
            document,
            job_id,
        } => cloud.create_job(things, &document, job_id)?,
        Command::CancelJob { job_id, force } => cloud.cancel_job(&job_id, force)?,
        Command::DescribeJob { job_id } => cloud.describe_job(&job_id)?,
        Command::ListJobs { thing } => cloud.list_jobs(thing.as_deref()),
        Command::Fault { knob, value, times } => cloud.set_fault(knob, value, times),
        Command::ClearFaults => cloud.clear_faults(),
        Command::ListFaults => cloud.faults(),
        Command::Presign {
            key,
            method,
            expires_secs,
        } => cloud.presign(&key, &method, expires_secs)?,
    })
}

/// Sends one command to the service in `dir` and returns its answer.
pub fn call(dir: &Path, command: &Command) -> Result<Value> {
    let path = dir.join(SOCKET);
    let mut stream = UnixStream::connect(&path).map_err(|error| match error.kind() {
        ErrorKind::NotFound | ErrorKind::ConnectionRefused => anyhow!(
            "the cloud is not running in {} (start it with scripts/cloud up)",
            dir.display()
        ),
        _ => anyhow!("connecting to {}: {error}", path.display()),
    })?;
    stream.set_read_timeout(Some(CLIENT_IO_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_IO_TIMEOUT))?;
    let mut request = serde_json::to_vec(command)?;
    request.push(b'\n');
    stream.write_all(&request)?;
    let mut line = String::new();
    BufReader::new(stream.take(MAX_REQUEST_BYTES * 16))
        .read_line(&mut line)
        .context("reading the service's answer")?;
    match serde_json::from_str(&line).context("parsing the service's answer")? {
        Reply::Ok(value) => Ok(value),
        Reply::Error(message) => Err(anyhow!(message)),
    }
}

/// Turns a command line into a [`Command`]; paths become absolute, as the service has its own
/// working directory.
pub fn parse_command(name: &str, mut args: Args) -> Result<Command> {
    let absolute = |path: String| -> Result<PathBuf> {
        std::path::absolute(&path).with_context(|| format!("resolving {path}"))
    };
    let command = match name {
        "status" => Command::Status,
        "upload" => {
            let key = args.option("--key")?;
            let file = absolute(args.positional("the file to upload")?)?;
            Command::Upload { file, key }
        }
        "create-ota-job" => Command::CreateOtaJob(OtaJobRequest {
            things: match args.options("--thing")? {
                things if things.is_empty() => bail!("--thing is required"),
                things => things,
            },
            file: absolute(args.required("--file")?)?,
            sign_key: args.option("--sign-key")?.map(absolute).transpose()?,
            job_id: args.option("--job-id")?,
            key: args.option("--key")?,
            file_path: args.option("--filepath")?,
            cert_file: args.option("--certfile")?,
            expires_secs: args.parsed("--expires")?.unwrap_or(DEFAULT_URL_EXPIRY_SECS),
            step_timeout_minutes: args.parsed("--step-timeout")?,
        }),
        "create-job" => Command::CreateJob {
            things: match args.options("--thing")? {
                things if things.is_empty() => bail!("--thing is required"),
                things => things,
            },
            document: absolute(args.required("--document")?)?,
            job_id: args.option("--job-id")?,
        },
        "cancel-job" => {
            let force = args.flag("--force");
            Command::CancelJob {
                job_id: args.positional("the job id")?,
                force,
            }
        }
        "describe-job" => Command::DescribeJob {
            job_id: args.positional("the job id")?,
        },
        "list-jobs" => Command::ListJobs {
            thing: args.option("--thing")?,
        },
        "fault" => {
            let times = args.parsed("--times")?;
            match args.positional("a knob").ok() {
                None => Command::ListFaults,
                Some(clear) if clear == "clear" => Command::ClearFaults,
                Some(knob) => {
                    let knob: Knob = knob.parse()?;
                    let value = knob.parse_value(&args.positional("the knob's value")?)?;
                    Command::Fault { knob, value, times }
                }
            }
        }
        "presign" => {
            let method = args.option("--method")?.unwrap_or_else(|| "GET".into());
            let expires_secs = args.parsed("--expires")?.unwrap_or(DEFAULT_URL_EXPIRY_SECS);
            Command::Presign {
                key: args.positional("the object key")?,
                method,
                expires_secs,
            }
        }
        other => bail!("unknown command {other:?} (see cloud-svc --help)"),
    };
    args.finish()?;
    Ok(command)
}
