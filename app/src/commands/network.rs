//! The network commands: `wifi`, `ifconfig`, `ping`, `ntp`.

use super::{credentials, station};
use crate::config::{
    DHCP_WAIT, HANDSHAKE_WAIT, NTP_WAIT, PING_WAIT, TLS_TASKS_MAX, TLS_TASK_PRIORITY,
    TLS_TASK_STACK_WORDS, TLS_TIMES_MAX,
};
use crate::shell::command::{CommandError, CommandResult, Context};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use core::time::Duration;
use kernel::Queue;
use net::station::{NetError, Station};
use net::tls::{TlsError, TlsStream, AWS_IOT_MQTT_ALPN};

fn failed(e: NetError) -> CommandError {
    CommandError::Failed(e.to_string())
}

pub fn wifi(ctx: &mut Context<'_>, args: &[&str]) -> CommandResult {
    match args {
        ["init"] => wifi_init(ctx),
        ["connect", ssid, passphrase] => wifi_connect(ctx, ssid, passphrase),
        ["disconnect"] => {
            station(ctx.services)?.disconnect();
            writeln!(ctx.out, "sta disconnected")?;
            Ok(())
        }
        _ => Err(CommandError::Usage),
    }
}

fn wifi_init(ctx: &mut Context<'_>) -> CommandResult {
    let platform = ctx.platform;
    let Some(radio) = platform.wifi else {
        return Err(CommandError::Failed(format!(
            "board {} has no radio",
            platform.board
        )));
    };
    // A second `wifi init` reaches Station::start too, which refuses it: lwIP starts once.
    let mut slot = ctx.services.station.lock();
    let mut seed = [0u8; 4];
    platform.entropy.lock().fill(&mut seed);
    let station =
        Station::start(radio, platform.clock, u32::from_le_bytes(seed)).map_err(failed)?;
    *slot = Some(station);
    writeln!(ctx.out, "wifi initialised")?;
    Ok(())
}

fn wifi_connect(ctx: &mut Context<'_>, ssid: &str, passphrase: &str) -> CommandResult {
    let station = station(ctx.services)?;
    station.connect(ssid, passphrase).map_err(failed)?;
    writeln!(ctx.out, "sta connected")?;
    log::info!(target: "wifi", "sta connected to {ssid}");
    let ip = station.wait_for_address(DHCP_WAIT).map_err(failed)?;
    writeln!(ctx.out, "sta got ip {ip}")?;
    log::info!(target: "wifi", "sta got ip {ip}");
    Ok(())
}

pub fn ifconfig(ctx: &mut Context<'_>, args: &[&str]) -> CommandResult {
    if !args.is_empty() {
        return Err(CommandError::Usage);
    }
    let i = station(ctx.services)?.interface();
    let m = i.mac;
    writeln!(
        ctx.out,
        "wl0: link {} {}\n  mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\n  inet {} netmask {} gateway {}\n  dns {} {}",
        if i.link_up { "up" } else { "down" },
        if i.dhcp_bound { "(dhcp)" } else { "" },
        m[0], m[1], m[2], m[3], m[4], m[5],
        i.ip, i.netmask, i.gateway, i.dns[0], i.dns[1]
    )?;
    Ok(())
}

pub fn ping(ctx: &mut Context<'_>, args: &[&str]) -> CommandResult {
    let (host, count) = match args {
        [host] => (*host, 4),
        [host, count] => (
            *host,
            count.parse::<u16>().map_err(|_| CommandError::Usage)?,
        ),
        _ => return Err(CommandError::Usage),
    };
    let station = station(ctx.services)?;
    let address = station.resolve(host).map_err(failed)?;
    let mut received = 0;
    for sequence in 1..=count {
        match station.ping(address, sequence, PING_WAIT) {
            Ok(ms) => {
                received += 1;
                writeln!(ctx.out, "reply from {address}: seq={sequence} time={ms} ms")?;
            }
            Err(NetError::Timeout) => writeln!(ctx.out, "no reply from {address}: seq={sequence}")?,
            Err(e) => return Err(failed(e)),
        }
    }
    writeln!(ctx.out, "{count} sent, {received} received")?;
    if received == 0 {
        return Err(CommandError::Failed(format!("{host} did not answer")));
    }
    Ok(())
}

pub fn ntp(ctx: &mut Context<'_>, args: &[&str]) -> CommandResult {
    let station = station(ctx.services)?;
    let answers_before = station.sntp_answers();
    match args {
        [] => {}
        ["start"] => station.sntp_start(None).map_err(failed)?,
        ["start", server] => station.sntp_start(Some(server)).map_err(failed)?,
        _ => return Err(CommandError::Usage),
    }
    for (i, (name, address)) in station.sntp_servers().iter().enumerate() {
        if name.is_empty() {
            writeln!(ctx.out, "ntp server {i}: {address}")?;
        } else {
            writeln!(ctx.out, "ntp server {i}: {} ({address})", name.as_str())?;
        }
    }
    let started = !args.is_empty();
    if started {
        let start = kernel::now_ms();
        while station.sntp_answers() == answers_before
            && u128::from(kernel::now_ms().wrapping_sub(start)) < NTP_WAIT.as_millis()
        {
            kernel::delay(Duration::from_millis(100));
        }
    }
    let answered = if started {
        station.sntp_answers() != answers_before
    } else {
        station.sntp_last().is_some()
    };
    if !answered {
        return Err(CommandError::Failed(String::from(
            "no answer from the NTP servers yet",
        )));
    }
    let now = ctx.platform.clock.unix_time();
    writeln!(
        ctx.out,
        "local time: {} (UTC)",
        crate::time::format_utc(now)
    )?;
    // The clock is set: what a job under way (a self-test, a download to go on with) needed.
    // Its failure is the agent's, not the clock's.
    if let Err(CommandError::Failed(why)) = super::aws_ota::start_for_pending_work(ctx) {
        log::warn!(target: "ota", "the OTA agent could not start: {why}");
    }
    Ok(())
}

/// `tls <host> [port] [alpn | times tasks]`: verified handshakes with a server, for checking
/// credentials and the clock; with `alpn`, offering AWS IoT's ALPN protocol for MQTT on port
/// 443; with `times` and `tasks`, that many handshakes in each of that many tasks at once, all
/// with the board's one set of credentials.
pub fn tls(ctx: &mut Context<'_>, args: &[&str]) -> CommandResult {
    let number = |text: &str| text.parse::<u32>().map_err(|_| CommandError::Usage);
    let port_number = |text: &str| text.parse::<u16>().map_err(|_| CommandError::Usage);
    if let [host, port, "alpn"] = args {
        let (station, port) = (station(ctx.services)?, port_number(port)?);
        let credentials = credentials(ctx.services)?;
        let stream = TlsStream::connect_with_alpn(
            station,
            host,
            port,
            Some(AWS_IOT_MQTT_ALPN),
            credentials,
            HANDSHAKE_WAIT,
        )
        .map_err(|e| CommandError::Failed(e.to_string()))?;
        drop(stream);
        writeln!(
            ctx.out,
            "TLS to {host}:{port}: server verified, ALPN {AWS_IOT_MQTT_ALPN}"
        )?;
        return Ok(());
    }
    let (host, port, times, tasks) = match args {
        [host] => (*host, 443, 1, 1),
        [host, port] => (*host, port_number(port)?, 1, 1),
        [host, port, times, tasks] => (*host, port_number(port)?, number(times)?, number(tasks)?),
        _ => return Err(CommandError::Usage),
    };
    if !(1..=TLS_TIMES_MAX).contains(&times) || !(1..=TLS_TASKS_MAX).contains(&tasks) {
        return Err(CommandError::Failed(format!(
            "times 1..={TLS_TIMES_MAX}, tasks 1..={TLS_TASKS_MAX}"
        )));
    }
    let station = station(ctx.services)?;
    let credentials = credentials(ctx.services)?;
    if times == 1 && tasks == 1 {
        let stream = TlsStream::connect(station, host, port, credentials, HANDSHAKE_WAIT)
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        drop(stream);
        writeln!(ctx.out, "TLS to {host}:{port}: server verified")?;
        return Ok(());
    }
    let results = Arc::new(Queue::<Result<(), TlsError>>::new(tasks).map_err(kernel_failed)?);
    for task in 0..tasks {
        let (results, host) = (results.clone(), String::from(host));
        kernel::spawn(
            &format!("tls{task}"),
            TLS_TASK_STACK_WORDS,
            TLS_TASK_PRIORITY,
            move || {
                for _ in 0..times {
                    let outcome =
                        TlsStream::connect(station, &host, port, credentials, HANDSHAKE_WAIT)
                            .map(drop);
                    let _ = results.send(outcome, HANDSHAKE_WAIT);
                }
            },
        )
        .map_err(kernel_failed)?;
    }
    let total = times * tasks;
    let (mut verified, mut first_error) = (0, None);
    for _ in 0..total {
        match results.receive(HANDSHAKE_WAIT * 2) {
            Some(Ok(())) => verified += 1,
            Some(Err(e)) => {
                first_error.get_or_insert(e);
            }
            None => break,
        }
    }
    // The tasks have sent their last result and are ending: let the idle task free their
    // stacks, so that a `free` right after shows the heap as it was.
    kernel::delay(Duration::from_millis(20));
    writeln!(
        ctx.out,
        "TLS to {host}:{port}: {verified} of {total} handshakes verified ({tasks} tasks)"
    )?;
    match first_error {
        Some(e) => Err(CommandError::Failed(e.to_string())),
        None if verified < total => Err(CommandError::Failed(String::from(
            "handshakes did not finish in time",
        ))),
        None => Ok(()),
    }
}

fn kernel_failed(e: kernel::Error) -> CommandError {
    CommandError::Failed(format!("{e:?}"))
}
