//! The two date formats the mock speaks: RFC 2822 (`X-Duo-Date`, read) and the HTTP-date (`Retry-After`, written).
//!
//! Written by hand (days-from-civil arithmetic) so the mock needs no date crate and parses exactly what Duo does.

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// Seconds since the Unix epoch, by the system clock (0 if the clock is before 1970).
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `Sun, 06 Nov 1994 08:49:37 <zone>` for `secs` since the epoch, in UTC.
fn format_with_zone(secs: i64, zone: &str) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let wd = WEEKDAYS[usize::try_from((days + 4).rem_euclid(7)).unwrap_or(0)];
    let mon = MONTHS[usize::try_from(m - 1).unwrap_or(0)];
    format!(
        "{wd}, {d:02} {mon} {y:04} {:02}:{:02}:{:02} {zone}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// An HTTP-date (RFC 9110 IMF-fixdate), as a server writes in `Retry-After`.
pub(crate) fn http_date(secs: i64) -> String {
    format_with_zone(secs, "GMT")
}

/// An RFC 2822 date with a numeric zone, as Duo clients write in `X-Duo-Date` (the tests sign with it).
#[cfg(test)]
pub(crate) fn rfc2822(secs: i64) -> String {
    format_with_zone(secs, "+0000")
}

/// Parse an RFC 2822 date (`[Day, ]DD Mon YYYY HH:MM:SS ZONE`, zone `+hhmm`, `-hhmm`, `GMT`, `UT`, `UTC` or `Z`).
pub(crate) fn parse_rfc2822(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = match s.split_once(',') {
        Some((day, rest)) if WEEKDAYS.contains(&day.trim()) => rest,
        Some(_) => return None,
        None => s,
    };
    let mut it = s.split_whitespace();
    let day: i64 = it.next()?.parse().ok()?;
    let mon = it.next()?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mon))?;
    let year: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':');
    let h: i64 = hms.next()?.parse().ok()?;
    let mi: i64 = hms.next()?.parse().ok()?;
    let sec: i64 = hms.next().map_or(Some(0), |v| v.parse().ok())?;
    let zone = it.next()?;
    if it.next().is_some() || hms.next().is_some() {
        return None;
    }
    if !(1..=31).contains(&day)
        || !(0..=23).contains(&h)
        || !(0..=59).contains(&mi)
        || !(0..=60).contains(&sec)
    {
        return None;
    }
    if !(1970..=9999).contains(&year) {
        return None;
    }
    let offset = match zone {
        "GMT" | "UT" | "UTC" | "Z" => 0,
        z if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
            let digits = &z[1..];
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let hh: i64 = digits[..2].parse().ok()?;
            let mm: i64 = digits[2..].parse().ok()?;
            let v = hh * 3600 + mm * 60;
            if z.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let month = i64::try_from(month).ok()? + 1;
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_vector_date() {
        assert_eq!(
            parse_rfc2822("Mon, 23 Nov 2026 06:30:00 +0000"),
            Some(1_795_415_400)
        );
        assert_eq!(
            parse_rfc2822("23 Nov 2026 07:30:00 +0100"),
            Some(1_795_415_400)
        );
        assert_eq!(
            parse_rfc2822("Mon, 23 Nov 2026 01:30:00 -0500"),
            Some(1_795_415_400)
        );
        assert_eq!(
            parse_rfc2822("Tue, 29 Feb 2000 23:59:59 GMT"),
            Some(951_868_799)
        );
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [
            "",
            "Mon,",
            "Mon, 23 Nov",
            "Mon, 99 Nov 2026 06:30:00 +0000",
            "Mon, 23 Foo 2026 06:30:00 +0000",
            "Mon, 23 Nov 2026 06:30:00 +00x0",
            "Mon, 23 Nov 2026 06:30:00 +0000 extra",
            "Xyz, 23 Nov 2026 06:30:00 +0000",
            "Mon, 23 Nov 2026 25:30:00 +0000",
            "Mon, 23 Nov 2026 06:30:00 +é000",
            "Mon, 23 Nov 2026 06:30:00:01:02 +0000",
        ] {
            assert_eq!(parse_rfc2822(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formats_both_ways() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(rfc2822(1_795_415_400), "Mon, 23 Nov 2026 06:30:00 +0000");
        let now = unix_now();
        assert_eq!(parse_rfc2822(&rfc2822(now)), Some(now));
        assert_eq!(parse_rfc2822(&http_date(now)), Some(now));
    }
}
