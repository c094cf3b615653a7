//! Firmware versions as text (the W800 image header's 16-byte `ver` field, e.g. `0.9.4`) and
//! their order.
//!
//! The order is semantic versioning's (<https://semver.org/#spec-item-11>) widened to any
//! number of dotted numeric parts: an optional leading `v`, then numbers compared part by part
//! with missing parts taken as 0 (`1.2` = `1.2.0`), then an optional pre-release after `-`,
//! which orders *below* the same numbers without one (`1.0.0-rc.1` < `1.0.0`); pre-releases
//! compare identifier by identifier, numeric ones as numbers and below alphanumeric ones, a
//! shorter list below a longer one it begins. Build metadata after `+` is ignored. Text that
//! does not follow this shape has no order: a check that needs one refuses it.

use core::cmp::Ordering;
use core::fmt;
use heapless::String;

/// The longest version text kept: the image header's field holds 15 characters, and
/// `updatedBy` written by other firmware may be longer.
pub const VERSION_MAX: usize = 32;

/// A version text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Version(String<VERSION_MAX>);

impl Version {
    /// `text`, if it fits [`VERSION_MAX`] bytes.
    pub fn new(text: &str) -> Option<Self> {
        String::try_from(text).ok().map(Self)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How `self` orders against `other`, or `None` when either does not have the shape the
    /// module describes.
    pub fn compare(&self, other: &Version) -> Option<Ordering> {
        compare(self.as_str(), other.as_str())
    }

    /// Whether `self` is known to be newer than `other`.
    pub fn is_newer_than(&self, other: &Version) -> bool {
        self.compare(other) == Some(Ordering::Greater)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The numeric parts and the pre-release of a version text.
fn split(text: &str) -> Option<(&str, Option<&str>)> {
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    let text = text
        .split_once('+')
        .map_or(text, |(version, _build)| version);
    let (numbers, pre) = match text.split_once('-') {
        Some((numbers, pre)) => (numbers, Some(pre)),
        None => (text, None),
    };
    let numbers_ok = numbers.split('.').all(|part| number(part).is_some());
    let pre_ok = pre.is_none_or(|pre| {
        pre.split('.')
            .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    });
    (numbers_ok && pre_ok).then_some((numbers, pre))
}

fn number(part: &str) -> Option<u64> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a_numbers, a_pre) = split(a)?;
    let (b_numbers, b_pre) = split(b)?;
    let mut a_parts = a_numbers.split('.');
    let mut b_parts = b_numbers.split('.');
    loop {
        match (a_parts.next(), b_parts.next()) {
            (None, None) => break,
            (a_part, b_part) => {
                let a_value = a_part.and_then(number).unwrap_or(0);
                let b_value = b_part.and_then(number).unwrap_or(0);
                match a_value.cmp(&b_value) {
                    Ordering::Equal => {}
                    order => return Some(order),
                }
            }
        }
    }
    Some(match (a_pre, b_pre) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a_pre), Some(b_pre)) => compare_pre(a_pre, b_pre),
    })
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    let mut a_ids = a.split('.');
    let mut b_ids = b.split('.');
    loop {
        let order = match (a_ids.next(), b_ids.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(a_id), Some(b_id)) => match (number(a_id), number(b_id)) {
                (Some(a_value), Some(b_value)) => a_value.cmp(&b_value),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => a_id.cmp(b_id),
            },
        };
        if order != Ordering::Equal {
            return order;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(a: &str, b: &str) -> Option<Ordering> {
        Version::new(a).unwrap().compare(&Version::new(b).unwrap())
    }

    #[test]
    fn numbers_compare_part_by_part() {
        assert_eq!(order("0.9.4", "0.9.3"), Some(Ordering::Greater));
        assert_eq!(order("0.9.3", "0.9.4"), Some(Ordering::Less));
        assert_eq!(order("0.10.0", "0.9.9"), Some(Ordering::Greater));
        assert_eq!(order("1.2", "1.2.0"), Some(Ordering::Equal));
        assert_eq!(order("1.2.0.1", "1.2"), Some(Ordering::Greater));
        assert_eq!(order("v2.0.0", "1.9.9"), Some(Ordering::Greater));
        assert_eq!(order("1.0.0+build.7", "1.0.0"), Some(Ordering::Equal));
    }

    #[test]
    fn a_pre_release_orders_below_its_release() {
        assert_eq!(order("1.0.0-rc.1", "1.0.0"), Some(Ordering::Less));
        assert_eq!(order("0.9.4-ota", "0.9.3"), Some(Ordering::Greater));
        assert_eq!(order("0.9.4-ota", "0.9.4"), Some(Ordering::Less));
        assert_eq!(order("1.0.0-alpha", "1.0.0-alpha.1"), Some(Ordering::Less));
        assert_eq!(
            order("1.0.0-alpha.1", "1.0.0-alpha.beta"),
            Some(Ordering::Less)
        );
        assert_eq!(order("1.0.0-beta.2", "1.0.0-beta.11"), Some(Ordering::Less));
        assert_eq!(
            order("1.0.0-rc.1", "1.0.0-beta.11"),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn text_without_the_shape_has_no_order() {
        for text in [
            "",
            "abc",
            "1..2",
            "1.x",
            "0x00010203",
            "1.0-",
            "1.0-a..b",
            "-1",
        ] {
            assert_eq!(order(text, "1.0"), None, "{text}");
        }
        assert!(!Version::new("x")
            .unwrap()
            .is_newer_than(&Version::new("1").unwrap()));
        assert!(Version::new(&"1".repeat(33)).is_none());
    }
}
