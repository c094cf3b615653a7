//! Fault knobs that tests turn to see how the firmware copes with a misbehaving cloud.
//!
//! A knob stays set until it is turned off, or, if it was set for a number of times, until it
//! has acted that many times (`--times 1` makes a one-shot fault).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Knob {
    /// Jobs: replies (`accepted`/`rejected`) are not published.
    DropReplies,
    /// Jobs: replies are published this many milliseconds late.
    DelayReplies,
    /// Jobs: every `notify` and `notify-next` is published twice.
    DuplicateNotifications,
    /// Files: the connection is closed after this many bytes of an object body.
    CutAfter,
    /// Files: after this many bytes of an object body the server sends nothing more and holds
    /// the connection until the client hangs up.
    StallAfter,
    /// Files: the byte at this offset of the object is sent with its bits flipped.
    FlipByte,
    /// Files: a Range request is answered 200 with the whole object instead of 206.
    IgnoreRange,
    /// Jobs: presigned URLs are minted valid for this many seconds instead of the job's expiry.
    UrlExpiry,
    /// Jobs: presigned URLs are minted as with temporary (STS) credentials, with an
    /// `X-Amz-Security-Token` of this many characters.
    SessionToken,
}

impl Knob {
    pub const ALL: [Knob; 9] = [
        Knob::DropReplies,
        Knob::DelayReplies,
        Knob::DuplicateNotifications,
        Knob::CutAfter,
        Knob::StallAfter,
        Knob::FlipByte,
        Knob::IgnoreRange,
        Knob::UrlExpiry,
        Knob::SessionToken,
    ];

    fn is_switch(self) -> bool {
        matches!(
            self,
            Knob::DropReplies | Knob::DuplicateNotifications | Knob::IgnoreRange
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Knob::DropReplies => "drop-replies",
            Knob::DelayReplies => "delay-replies",
            Knob::DuplicateNotifications => "duplicate-notifications",
            Knob::CutAfter => "cut-after",
            Knob::StallAfter => "stall-after",
            Knob::FlipByte => "flip-byte",
            Knob::IgnoreRange => "ignore-range",
            Knob::UrlExpiry => "url-expiry",
            Knob::SessionToken => "session-token",
        }
    }

    /// What a knob's value means, for `fault` without arguments and for errors.
    pub fn value_syntax(self) -> &'static str {
        match self {
            Knob::DropReplies | Knob::DuplicateNotifications | Knob::IgnoreRange => "on|off",
            Knob::DelayReplies => "<milliseconds>|off",
            Knob::CutAfter | Knob::StallAfter => "<bytes>|off",
            Knob::FlipByte => "<offset>|off",
            Knob::UrlExpiry => "<seconds>|off",
            Knob::SessionToken => "<characters>|off",
        }
    }

    /// Parses a value given on the command line; `None` turns the knob off.
    pub fn parse_value(self, text: &str) -> Result<Option<u64>> {
        match (text, self.is_switch()) {
            ("off", _) => Ok(None),
            ("on", true) => Ok(Some(1)),
            (number, false) => number.parse().map(Some).map_err(|_| {
                anyhow!(
                    "fault {self}: expected {}, got {number:?}",
                    self.value_syntax()
                )
            }),
            (other, true) => bail!("fault {self}: expected on|off, got {other:?}"),
        }
    }
}

impl fmt::Display for Knob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Knob {
    type Err = anyhow::Error;

    fn from_str(name: &str) -> Result<Self> {
        Knob::ALL
            .into_iter()
            .find(|knob| knob.name() == name)
            .ok_or_else(|| {
                let names: Vec<_> = Knob::ALL.iter().map(|knob| knob.name()).collect();
                anyhow!("unknown fault {name:?}; knobs: {}", names.join(", "))
            })
    }
}

#[derive(Clone, Copy, Debug)]
struct Setting {
    value: u64,
    /// How many more times the knob acts; `None` until turned off.
    remaining: Option<u32>,
}

#[derive(Debug, Default)]
pub struct Faults {
    settings: Mutex<BTreeMap<Knob, Setting>>,
}

impl Faults {
    pub fn set(&self, knob: Knob, value: Option<u64>, times: Option<u32>) {
        let mut settings = self.lock();
        match (value, times) {
            (Some(value), None) => {
                settings.insert(
                    knob,
                    Setting {
                        value,
                        remaining: None,
                    },
                );
            }
            (Some(value), Some(times)) if times > 0 => {
                settings.insert(
                    knob,
                    Setting {
                        value,
                        remaining: Some(times),
                    },
                );
            }
            _ => {
                settings.remove(&knob);
            }
        }
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The knob's value if it is set, counting this as one time it acted.
    pub fn take(&self, knob: Knob) -> Option<u64> {
        let mut settings = self.lock();
        let setting = settings.get_mut(&knob)?;
        let value = setting.value;
        if let Some(remaining) = &mut setting.remaining {
            *remaining -= 1;
            if *remaining == 0 {
                settings.remove(&knob);
            }
        }
        Some(value)
    }

    pub fn to_json(&self) -> Value {
        let settings = self.lock();
        let knobs = settings.iter().map(|(knob, setting)| {
            let value = if knob.is_switch() {
                json!("on")
            } else {
                json!(setting.value)
            };
            (
                knob.name().to_owned(),
                json!({ "value": value, "remainingTimes": setting.remaining }),
            )
        });
        Value::Object(knobs.collect())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Knob, Setting>> {
        // The map is valid after any panic that could poison it: every update is one call.
        self.settings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for knob in Knob::ALL {
            assert_eq!(knob.name().parse::<Knob>().unwrap(), knob);
        }
        assert!("flip".parse::<Knob>().is_err());
    }

    #[test]
    fn values_are_switches_or_numbers() {
        assert_eq!(Knob::IgnoreRange.parse_value("on").unwrap(), Some(1));
        assert_eq!(Knob::CutAfter.parse_value("4096").unwrap(), Some(4096));
        assert_eq!(Knob::CutAfter.parse_value("off").unwrap(), None);
        assert!(Knob::CutAfter.parse_value("on").is_err());
        assert!(Knob::IgnoreRange.parse_value("3").is_err());
    }

    #[test]
    fn a_counted_knob_turns_itself_off() {
        let faults = Faults::default();
        faults.set(Knob::CutAfter, Some(10), Some(2));
        faults.set(Knob::IgnoreRange, Some(1), None);
        assert_eq!(faults.take(Knob::CutAfter), Some(10));
        assert_eq!(faults.take(Knob::CutAfter), Some(10));
        assert_eq!(faults.take(Knob::CutAfter), None);
        for _ in 0..3 {
            assert_eq!(faults.take(Knob::IgnoreRange), Some(1));
        }
        faults.set(Knob::IgnoreRange, None, None);
        assert_eq!(faults.take(Knob::IgnoreRange), None);
    }
}
