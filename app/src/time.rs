//! Calendar time for display.

/// `YYYY-MM-DD HH:MM:SS` for Unix seconds (UTC), by the civil-from-days algorithm
/// (proleptic Gregorian calendar).
pub fn format_utc(unix: u64) -> heapless::String<20> {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let mut text = heapless::String::new();
    let _ = core::fmt::write(
        &mut text,
        format_args!(
            "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        ),
    );
    text
}

#[cfg(test)]
mod tests {
    use super::format_utc;

    #[test]
    fn known_instants_format_as_calendar_dates() {
        assert_eq!(format_utc(0).as_str(), "1970-01-01 00:00:00");
        assert_eq!(format_utc(951_782_400).as_str(), "2000-02-29 00:00:00");
        assert_eq!(format_utc(1_795_744_225).as_str(), "2026-11-27 01:50:25");
        assert_eq!(format_utc(4_102_444_799).as_str(), "2099-12-31 23:59:59");
    }
}
