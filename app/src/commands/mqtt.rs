//! `mqtt`: a session of the shell's own to a broker, over the MQTT task (`crate::mqtt`).

use super::{credentials, station};
use crate::config::{MQTT_PAYLOAD_MAX, MQTT_TOPIC_MAX, THING_NAME};
use crate::mqtt::{self, LogSink, Request, Session, Target, Topic};
use crate::services::Services;
use crate::shell::command::{CommandError, CommandResult, Context};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use net::mqtt::QoS;

fn session(services: &Services) -> Result<&'static Session, CommandError> {
    services
        .mqtt
        .lock()
        .filter(|session| session.is_active())
        .ok_or_else(|| {
            CommandError::Failed(String::from("not connected: run 'mqtt connect' first"))
        })
}

fn topic(text: &str) -> Result<Topic, CommandError> {
    Topic::try_from(text)
        .map_err(|_| CommandError::Failed(format!("topic longer than {MQTT_TOPIC_MAX} bytes")))
}

/// `mqtt connect <host> [port] [client-id] | sub <topic> | pub <topic> <payload> [qos] | disconnect`
pub fn mqtt(ctx: &mut Context<'_>, args: &[&str]) -> CommandResult {
    match args {
        ["connect", host, rest @ ..] if rest.len() <= 2 => {
            let port = match rest.first() {
                Some(p) => p.parse().map_err(|_| CommandError::Usage)?,
                None => 8883,
            };
            connect(ctx, host, port, rest.get(1).copied().unwrap_or(THING_NAME))
        }
        ["sub", filter] => {
            let session = session(ctx.services)?;
            session
                .request(Request::Subscribe(topic(filter)?))
                .map_err(CommandError::Failed)?;
            writeln!(ctx.out, "subscribed to {filter}")?;
            Ok(())
        }
        ["pub", name, payload, rest @ ..] if rest.len() <= 1 => {
            let qos = match rest.first().copied() {
                None | Some("1") => QoS::AtLeastOnce,
                Some("0") => QoS::AtMostOnce,
                Some(_) => return Err(CommandError::Usage),
            };
            let payload = heapless::Vec::from_slice(payload.as_bytes()).map_err(|_| {
                CommandError::Failed(format!("payload longer than {MQTT_PAYLOAD_MAX} bytes"))
            })?;
            let session = session(ctx.services)?;
            session
                .request(Request::Publish {
                    topic: topic(name)?,
                    payload,
                    qos,
                    answer: true,
                })
                .map_err(CommandError::Failed)?;
            writeln!(ctx.out, "published to {name}")?;
            Ok(())
        }
        ["disconnect"] => {
            let session = session(ctx.services)?;
            session
                .request(Request::Disconnect)
                .map_err(CommandError::Failed)?;
            writeln!(ctx.out, "disconnected")?;
            Ok(())
        }
        _ => Err(CommandError::Usage),
    }
}

fn connect(ctx: &mut Context<'_>, host: &str, port: u16, client_id: &str) -> CommandResult {
    let platform = ctx.platform;
    let target = Target {
        station: station(ctx.services)?,
        credentials: credentials(ctx.services)?,
        host: host.to_string(),
        port,
        alpn: false,
        client_id: client_id.to_string(),
        subscriptions: alloc::vec::Vec::new(),
        sink: &LogSink,
    };
    let session = {
        let mut slot = ctx.services.mqtt.lock();
        let session: &'static Session = match *slot {
            Some(session) if session.is_active() => {
                return Err(CommandError::Failed(String::from(
                    "already connected: 'mqtt disconnect' first",
                )))
            }
            Some(session) => session,
            None => Box::leak(Box::new(
                Session::new().map_err(|e| CommandError::Failed(e.to_string()))?,
            )),
        };
        *slot = Some(session);
        session
    };
    mqtt::start(platform, target, session).map_err(CommandError::Failed)?;
    writeln!(ctx.out, "mqtt connected to {host}:{port} as {client_id}")?;
    Ok(())
}
