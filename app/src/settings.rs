//! Where the OTA agent connects, from a small text file: built in at compile time (see
//! `build.rs`: `W800_OTA_CONFIG`, else `certs/ota.conf` when it exists, else the local cloud's
//! defaults), and on the sim replaced at run time by `--config FILE`. One `key = value` per
//! line; `#` starts a comment; unknown keys are errors, so a typo is not silently ignored.
//!
//! ```text
//! # AWS IoT Core: the account's ATS endpoint, the thing's name.
//! endpoint = a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com
//! port = 443
//! alpn = true
//! thing = w800-demo-1
//! # An image on trial that has no accepted verdict this long after its start rolls back.
//! self_test_deadline = 300
//! ```

use core::fmt;

/// The longest host name (RFC 1035) and thing name (AWS IoT) taken.
const HOST_MAX: usize = 253;
const THING_MAX: usize = 128;

/// The self-test's deadline unless the settings give one: time to join a Wi-Fi network, set
/// the clock and reach the cloud, with its retries.
pub(crate) const SELF_TEST_DEADLINE_S: u32 = 300;
/// The shortest and the longest deadline taken.
const SELF_TEST_DEADLINE_MIN_S: u32 = 10;
const SELF_TEST_DEADLINE_MAX_S: u32 = 86_400;

/// The compiled-in settings text.
pub const BUILT_IN: &str = include_str!(concat!(env!("OUT_DIR"), "/ota.conf"));

/// The agent's endpoint and identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtaSettings {
    /// The MQTT broker: AWS IoT Core's ATS endpoint, or the local cloud's.
    pub host: heapless::String<HOST_MAX>,
    /// 8883, or 443 with `alpn`.
    pub port: u16,
    /// Offer ALPN `x-amzn-mqtt-ca` (AWS IoT's MQTT on port 443).
    pub alpn: bool,
    /// The thing name, also the MQTT client id.
    pub thing: heapless::String<THING_MAX>,
    /// Seconds from its start that an image on trial has for its self-test: joining the
    /// network, finding its job and having the cloud accept `SUCCEEDED`. Past it, the image
    /// marks itself rolled back and restarts into the previous one.
    pub self_test_deadline_s: u32,
}

/// Why a settings text was refused: the line and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    pub line: usize,
    pub what: &'static str,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "settings line {}: {}", self.line, self.what)
    }
}

impl OtaSettings {
    /// Parses `text`; keys not given keep the local cloud's values.
    pub fn parse(text: &str) -> Result<OtaSettings, SettingsError> {
        let mut settings = OtaSettings {
            host: heapless::String::try_from("iot.w800.test").unwrap_or_default(),
            port: 8883,
            alpn: false,
            thing: heapless::String::try_from("w800-demo-1").unwrap_or_default(),
            self_test_deadline_s: SELF_TEST_DEADLINE_S,
        };
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let error = |what| SettingsError { line, what };
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let (key, value) = content
                .split_once('=')
                .ok_or(error("expected key = value"))?;
            let value = value.trim();
            match key.trim() {
                "endpoint" => {
                    if value.is_empty() || value.contains(char::is_whitespace) {
                        return Err(error("endpoint: a host name"));
                    }
                    settings.host = heapless::String::try_from(value)
                        .map_err(|_| error("endpoint too long"))?;
                }
                "port" => {
                    settings.port = value
                        .parse()
                        .ok()
                        .filter(|port| *port != 0)
                        .ok_or(error("port: 1 to 65535"))?;
                }
                "alpn" => {
                    settings.alpn = match value {
                        "true" => true,
                        "false" => false,
                        _ => return Err(error("alpn: true or false")),
                    };
                }
                "thing" => {
                    if value.is_empty() {
                        return Err(error("thing: a name"));
                    }
                    settings.thing = heapless::String::try_from(value)
                        .map_err(|_| error("thing name too long"))?;
                }
                "self_test_deadline" => {
                    settings.self_test_deadline_s = value
                        .parse()
                        .ok()
                        .filter(|s| {
                            (SELF_TEST_DEADLINE_MIN_S..=SELF_TEST_DEADLINE_MAX_S).contains(s)
                        })
                        .ok_or(error("self_test_deadline: 10 to 86400 seconds"))?;
                }
                _ => {
                    return Err(error(
                        "unknown key (endpoint, port, alpn, thing, self_test_deadline)",
                    ))
                }
            }
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_comments_and_defaults() {
        let s = OtaSettings::parse(
            "# AWS\nendpoint = abc-ats.iot.eu-west-1.amazonaws.com\nport = 443 # ALPN\nalpn = true\n",
        )
        .unwrap();
        assert_eq!(s.host.as_str(), "abc-ats.iot.eu-west-1.amazonaws.com");
        assert_eq!((s.port, s.alpn), (443, true));
        assert_eq!(s.thing.as_str(), "w800-demo-1");
        assert_eq!(OtaSettings::parse("").unwrap().port, 8883);
        assert_eq!(OtaSettings::parse("").unwrap().self_test_deadline_s, 300);
        let deadline = OtaSettings::parse("self_test_deadline = 20").unwrap();
        assert_eq!(deadline.self_test_deadline_s, 20);
    }

    #[test]
    fn mistakes_name_their_line() {
        for (text, line) in [
            ("port = 0", 1),
            ("\nendpoint", 2),
            ("alpn = yes", 1),
            ("\n\nthng = x", 3),
            ("endpoint = a b", 1),
            ("self_test_deadline = 9", 1),
            ("\nself_test_deadline = 86401", 2),
        ] {
            assert_eq!(OtaSettings::parse(text).unwrap_err().line, line, "{text:?}");
        }
    }
}
