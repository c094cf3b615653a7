//! `aws_ota`, and the agent's part of `ota status` and `ota abort`: the shell over the OTA
//! agent's service (`crate::aws_ota`).

use super::{credentials, station};
use crate::aws_ota::{OtaService, Transport};
use crate::settings::OtaSettings;
use crate::shell::command::{CommandError, CommandResult, Context};
use alloc::format;
use alloc::string::{String, ToString};
use bsp::hal::ResetReason;
use net::station::Station;
use ota_agent::jobs::ThingName;

/// `aws_ota`: starts the agent (and its MQTT and download tasks) and returns to the prompt.
pub fn aws_ota(ctx: &mut Context<'_>, args: &[&str]) -> CommandResult {
    if !args.is_empty() {
        return Err(CommandError::Usage);
    }
    start_agent(ctx)
}

/// The agent starts by itself as soon as the network and the clock are there (`ntp start`)
/// when a job is under way: after a restart into a new image (reset reason `ota`, or an image
/// installed whose self-test verdict the cloud has not confirmed), for its self-test; and when
/// `app_ota`'s journal holds a download that a restart or a power cut stopped, to go on with
/// it. Neither needs a command.
pub fn start_for_pending_work(ctx: &mut Context<'_>) -> CommandResult {
    let running = ctx
        .services
        .aws_ota
        .lock()
        .is_some_and(|service| service.is_running());
    if running {
        return Ok(());
    }
    if let Some(version) = crate::ota::rolled_back(ctx.platform) {
        writeln!(
            ctx.out,
            "aws_ota: the update to {} did not become the running image: reporting it",
            version.as_str()
        )?;
    } else if ctx.platform.reset.last_reason() == ResetReason::Ota
        || crate::ota::awaits_self_test(ctx.platform)
    {
        writeln!(ctx.out, "aws_ota: the new image awaits its self-test")?;
    } else if let Some(download) = crate::ota::pending_download(ctx.platform) {
        writeln!(
            ctx.out,
            "aws_ota: the download of job {} stopped before its end: going on",
            download.job_id
        )?;
    } else {
        return Ok(());
    }
    start_agent(ctx)
}

fn start_agent(ctx: &mut Context<'_>) -> CommandResult {
    let (platform, services) = (ctx.platform, ctx.services);
    let mut slot = services.aws_ota.lock();
    let service: &'static OtaService = match *slot {
        Some(service) if service.is_running() => {
            return Err(CommandError::Failed(String::from(
                "the OTA agent runs already ('ota status')",
            )))
        }
        Some(service) => service,
        None => {
            let settings = OtaSettings::parse(platform.ota.settings)
                .map_err(|e| CommandError::Failed(e.to_string()))?;
            let thing = ThingName::new(settings.thing.as_str())
                .map_err(|e| CommandError::Failed(format!("thing name: {e:?}")))?;
            // A board without a network offers a stand-in for the cloud instead.
            let loopback = platform.loopback.lock().take();
            let transport = match loopback {
                Some(cloud) => Transport::Loopback(cloud),
                None => Transport::Network {
                    station: station(services)?,
                    credentials: credentials(services)?,
                    https: services.https_credentials().map_err(CommandError::Failed)?,
                },
            };
            OtaService::new(platform, transport, settings, thing).map_err(CommandError::Failed)?
        }
    };
    *slot = Some(service);
    if let Some(station) = service.station() {
        network_ready(station)?;
    }
    service.start(platform).map_err(CommandError::Failed)?;
    writeln!(
        ctx.out,
        "aws_ota: agent started for {} {}",
        service.thing(),
        service.connection()
    )?;
    Ok(())
}

/// The station has an address and the clock is set (TLS checks certificates' dates).
fn network_ready(station: &Station) -> CommandResult {
    if !station.interface().dhcp_bound {
        return Err(CommandError::Failed(String::from(
            "no IP address: 'wifi connect' first",
        )));
    }
    if station.sntp_last().is_none() {
        return Err(CommandError::Failed(String::from(
            "the clock is not set (certificates cannot be checked): 'ntp start' first",
        )));
    }
    Ok(())
}

/// `ota status`, the agent's part.
pub fn agent_status(ctx: &mut Context<'_>) -> CommandResult {
    let Some(service) = *ctx.services.aws_ota.lock() else {
        writeln!(ctx.out, "agent: not started ('aws_ota')")?;
        return Ok(());
    };
    if !service.is_running() {
        writeln!(ctx.out, "agent: stopped ('aws_ota' starts it again)")?;
        return Ok(());
    }
    let Some(status) = service.status() else {
        writeln!(ctx.out, "agent: connecting")?;
        return Ok(());
    };
    writeln!(
        ctx.out,
        "agent: {:?}, {} {}",
        status.state,
        service.thing(),
        service.connection()
    )?;
    if let Some(job) = &status.job_id {
        writeln!(
            ctx.out,
            "job {}: {} of {} bytes, {} of {} blocks, {} B/s",
            job.as_str(),
            status.bytes_done,
            status.bytes_total,
            status.blocks_done,
            status.blocks_total,
            status.rate
        )?;
    }
    let stats = status.stats;
    writeln!(
        ctx.out,
        "Received: {} Queued: {} Processed: {} Dropped: {}",
        stats.received, stats.queued, stats.processed, stats.dropped
    )?;
    Ok(())
}

/// `ota abort`: the job is reported FAILED (`user-abort`) and the partial file erased.
pub fn abort(ctx: &mut Context<'_>) -> CommandResult {
    let Some(service) = *ctx.services.aws_ota.lock() else {
        return Err(CommandError::Failed(String::from(
            "the OTA agent is not running",
        )));
    };
    service.abort().map_err(CommandError::Failed)?;
    writeln!(ctx.out, "ota: abort requested")?;
    Ok(())
}
