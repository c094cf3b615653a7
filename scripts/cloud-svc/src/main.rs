//! `cloud-svc`: the local AWS IoT stand-in. `scripts/cloud` starts it and forwards its
//! commands to it; see `cloud-svc --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use cloud_svc::args::Args;
use cloud_svc::control;
use cloud_svc::service::{self, ServeConfig};

const USAGE: &str = "\
usage: cloud-svc --dir RUN_DIR COMMAND [ARGS]

  serve --pki DIR [--mqtt-host H] [--mqtt-port P] [--bind ADDR] [--https-port P]
        [--s3-host NAME] [--bucket NAME] [--minute-secs S]
      Runs the jobs service (via the broker at H:P) and the HTTPS file server (on ADDR:P).
      --minute-secs is for tests only: how long a minute of step timeouts lasts (default 60).

  status
  upload FILE [--key KEY]
  create-ota-job --thing T [--thing T2 ...] --file F [--sign-key K] [--expires S]
        [--step-timeout M] [--job-id ID] [--key KEY] [--filepath P] [--certfile C]
  create-job --thing T [--thing T2 ...] --document FILE [--job-id ID]
  cancel-job JOB_ID [--force]
  describe-job JOB_ID
  list-jobs [--thing T]
  fault [KNOB on|off|NUMBER [--times N] | clear]
  presign KEY [--method GET|HEAD] [--expires S]
      Control commands, sent to the service running in RUN_DIR; each prints JSON.";

fn main() -> ExitCode {
    match run(Args::new(std::env::args().skip(1))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cloud-svc: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(mut args: Args) -> Result<()> {
    if args.flag("--help") || args.flag("-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let dir = PathBuf::from(args.required("--dir")?);
    let command = args.positional("a command (see --help)")?;
    if command == "serve" {
        let config = ServeConfig::from_args(dir, &mut args)?;
        args.finish()?;
        return service::serve(config);
    }
    let answer = control::call(&dir, &control::parse_command(&command, args)?)?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}
