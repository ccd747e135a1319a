//! The recovery target's time: read from `AZA_RESTORE_TARGET_TIME` in the forms PostgreSQL and ISO 8601
//! write (`2026-12-02 10:15:00+00`, `2026-12-02T10:15:00.5Z`), with the time zone required (the
//! restore happens in a container whose zone is not the user's), and written back in UTC in the one
//! form both pgBackRest's backup selection and PostgreSQL's `recovery_target_time` read.

use std::fmt;

/// A point in time, to the microsecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TargetTime {
    /// Seconds since 1970-01-01 00:00:00 UTC.
    pub epoch: i64,
    pub micros: u32,
}

const FORMS: &str = "a date and time with its zone, as 2026-12-02 10:15:00+00, \
    2026-12-02 10:15:00.25-05:00 or 2026-12-02T10:15:00Z";

impl TargetTime {
    /// Parses `text`; the error says what is accepted.
    pub fn parse(text: &str) -> Result<TargetTime, String> {
        parse(text.trim()).ok_or_else(|| format!("is not {FORMS}"))
    }

    /// Seconds since the epoch, as pgBackRest's `info` reports a backup's start and stop.
    pub fn from_epoch(epoch: i64) -> TargetTime {
        TargetTime { epoch, micros: 0 }
    }
}

impl fmt::Display for TargetTime {
    /// `YYYY-MM-DD HH:MM:SS[.ffffff]+00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.epoch.div_euclid(86_400);
        let second_of_day = self.epoch.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
            second_of_day / 3600,
            second_of_day / 60 % 60,
            second_of_day % 60
        )?;
        if self.micros != 0 {
            let fraction = format!("{:06}", self.micros);
            write!(f, ".{}", fraction.trim_end_matches('0'))?;
        }
        f.write_str("+00")
    }
}

/// A cursor over the text, taking fixed-width numbers and literal characters.
struct Cursor<'a> {
    rest: &'a str,
}

impl Cursor<'_> {
    fn number(&mut self, digits: usize) -> Option<u32> {
        let head = self.rest.get(..digits)?;
        if !head.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.rest = &self.rest[digits..];
        head.parse().ok()
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }
}

fn parse(text: &str) -> Option<TargetTime> {
    let mut c = Cursor { rest: text };
    let year = c.number(4)?;
    c.eat('-').then_some(())?;
    let month = c.number(2)?;
    c.eat('-').then_some(())?;
    let day = c.number(2)?;
    (c.eat(' ') || c.eat('T')).then_some(())?;
    let hour = c.number(2)?;
    c.eat(':').then_some(())?;
    let minute = c.number(2)?;
    let second = if c.eat(':') { c.number(2)? } else { 0 };
    let mut micros = 0u32;
    if c.eat('.') {
        let digits = c.rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let fraction = &c.rest[..digits];
        c.rest = &c.rest[digits..];
        let padded = format!("{:0<6}", &fraction[..digits.min(6)]);
        micros = padded.parse().ok()?;
    }
    let offset_seconds = zone_offset(c.rest.trim_start())?;
    let days_in_month = days_in_month(year, month)?;
    if day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let local = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(TargetTime {
        epoch: local - offset_seconds,
        micros,
    })
}

/// `Z`, `UTC`, `+HH`, `+HHMM` or `+HH:MM` (or `-`): seconds east of UTC.
fn zone_offset(zone: &str) -> Option<i64> {
    if zone == "Z" || zone.eq_ignore_ascii_case("UTC") {
        return Some(0);
    }
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let mut c = Cursor { rest: &zone[1..] };
    let hours = c.number(2)?;
    let minutes = if c.rest.is_empty() {
        0
    } else {
        c.eat(':');
        c.number(2)?
    };
    if !c.rest.is_empty() || hours > 15 || minutes > 59 {
        return None;
    }
    Some(sign * i64::from(hours * 3600 + minutes * 60))
}

fn days_in_month(year: u32, month: u32) -> Option<u32> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    Some(match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> TargetTime {
        TargetTime::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn the_forms_postgresql_and_iso_write_mean_the_same_instant() {
        // 2026-12-02 10:15:00 UTC, by `date -u -d '2026-12-02 10:15:00' +%s`.
        let expected = TargetTime {
            epoch: 1_796_206_500,
            micros: 0,
        };
        for form in [
            "2026-12-02 10:15:00+00",
            "2026-12-02 10:15:00 +00:00",
            "2026-12-02T10:15:00Z",
            "2026-12-02 10:15 UTC",
            "2026-12-02 11:15:00+0100",
            "2026-12-02 05:15:00-05",
        ] {
            assert_eq!(parsed(form), expected, "{form}");
        }
        assert_eq!(parsed("2026-12-02 10:15:00.25+00").micros, 250_000);
        assert_eq!(parsed("2026-12-02 10:15:00.1234567+00").micros, 123_456);
    }

    #[test]
    fn written_back_in_utc_in_postgresql_form() {
        assert_eq!(
            parsed("2026-12-02 05:15:00.5-05").to_string(),
            "2026-12-02 10:15:00.5+00"
        );
        assert_eq!(
            parsed("2024-02-29 23:59:59Z").to_string(),
            "2024-02-29 23:59:59+00"
        );
        assert_eq!(
            TargetTime::from_epoch(0).to_string(),
            "1970-01-01 00:00:00+00"
        );
        // Across a year boundary by the zone.
        assert_eq!(
            parsed("2027-01-01 00:30:00+01").to_string(),
            "2026-12-31 23:30:00+00"
        );
    }

    #[test]
    fn a_time_without_its_zone_or_an_impossible_date_is_refused() {
        for bad in [
            "2026-12-02 10:15:00",
            "yesterday",
            "2026-02-29 10:00:00+00",
            "2026-13-01 10:00:00+00",
            "2026-12-02 24:00:00+00",
            "2026-12-02 10:15:00+16",
            "2026-12-02 10:15:00.+00",
            "2026-12-02 10:15:00+00 extra",
            "",
        ] {
            let error = TargetTime::parse(bad).expect_err(bad);
            assert!(error.contains("with its zone"), "{error}");
        }
    }

    #[test]
    fn days_round_trip() {
        for days in [-719_468, -1, 0, 1, 10_957, 20_789, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }
}
