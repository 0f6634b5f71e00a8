//! The times of an allowed-signers file: `YYYYMMDD[HHMM[SS]]`, in UTC with a trailing `Z` and
//! in the host's local time without one, as `ssh-keygen` reads them.

/// Seconds since the epoch.
pub(super) fn parse(text: &str) -> Result<i64, String> {
    let bad = || format!("`{text}` is not a time: write YYYYMMDD[HHMM[SS]], with Z for UTC");
    let (digits, utc) = match text.strip_suffix(['Z', 'z']) {
        Some(d) => (d, true),
        None => (text, false),
    };
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let num =
        |range: std::ops::Range<usize>| digits.get(range).map_or(0, |d| d.parse().unwrap_or(0));
    let (year, month, day) = (num(0..4), num(4..6), num(6..8));
    let (hour, minute, second) = (num(8..10), num(10..12), num(12..14));
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(bad());
    }
    if utc {
        let days = days_from_civil(year, month, day);
        return Ok(days * 86_400 + hour * 3600 + minute * 60 + second);
    }
    local(year, month, day, hour, minute, second).ok_or_else(bad)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The host's local time, through the C library as `ssh-keygen` does.
fn local(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> Option<i64> {
    let field = |v: i64| i32::try_from(v).ok();
    // SAFETY: `tm` is a plain C struct for which all-zero is a valid value; `mktime` only
    // reads and normalizes the struct it is given.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = field(year - 1900)?;
    tm.tm_mon = field(month - 1)?;
    tm.tm_mday = field(day)?;
    tm.tm_hour = field(hour)?;
    tm.tm_min = field(minute)?;
    tm.tm_sec = field(second)?;
    tm.tm_isdst = -1;
    // SAFETY: see above.
    let seconds = unsafe { libc::mktime(&raw mut tm) };
    (seconds != -1).then_some(seconds)
}

/// `2026-01-31T12:00:00Z`, for messages.
pub(super) fn rfc3339(seconds: i64) -> String {
    let time = u64::try_from(seconds)
        .map(|s| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s))
        .unwrap_or(std::time::UNIX_EPOCH);
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times() {
        assert_eq!(parse("19700101Z"), Ok(0));
        assert_eq!(parse("20200101Z"), Ok(1_577_836_800));
        assert_eq!(parse("202402291230Z"), Ok(1_709_209_800));
        assert_eq!(parse("20240229123005Z"), Ok(1_709_209_805));
        assert!(parse("2024").is_err() && parse("20241301Z").is_err());
        assert_eq!(rfc3339(1_709_209_805), "2024-02-29T12:30:05Z");
    }
}
