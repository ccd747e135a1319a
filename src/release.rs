//! Release naming: the image tags a published build gets (`aza-codegen image-tags`).
//!
//! A release of PostgreSQL `18.6` built at `2026-11-27T12:34:00Z` is tagged
//! `18.6-202611271234-single-node` (immutable: one per build), `18-single-node` and `18` (floating:
//! they move to the newest build of the major version). A pre-release (`18beta2`, `18rc1`,
//! `19devel`) gets only its immutable tag: the floating tags must never point at a server that is
//! not a release.
//!
//! The version comes from the built image's server binary (`postgres --version`), never typed, so
//! both the bare version and that command's whole output line are accepted. Pure functions: no
//! clock, no environment; the workflow passes the build time in.

use std::fmt;

/// What comes after the version and the build time in the immutable tag.
pub const VARIANT: &str = "single-node";

/// What a PostgreSQL version string says, in the parts the tags use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgVersion {
    /// The whole version as PostgreSQL prints it: `18.6`, `18.10`, `18beta2`, `19devel`.
    pub text: String,
    pub major: u32,
    /// `None` for a release; `Some("beta2")` (etc.) for a pre-release.
    pub pre_release: Option<String>,
}

impl PgVersion {
    pub fn is_release(&self) -> bool {
        self.pre_release.is_none()
    }
}

/// A UTC build time to the minute, as the tag spells it (`YYYYMMDDHHmm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildTime {
    pub year: u32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
}

impl BuildTime {
    /// `202611271234`.
    pub fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute
        )
    }
}

/// Why a tag set could not be computed. Every message names the value and the accepted form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseError {
    PgVersion { value: String, problem: String },
    Timestamp { value: String, problem: String },
}

pub const ACCEPTED_PG_VERSION: &str = "MAJOR.MINOR (18.6, 18.10), a pre-release MAJORbetaN, \
     MAJORrcN, MAJORalphaN or MAJORdevel (major 10 or later), or a whole `postgres --version` line";
pub const ACCEPTED_TIMESTAMP: &str = "RFC 3339 in UTC, YYYY-MM-DDTHH:MM:SSZ (for example \
     2026-11-27T12:34:00Z, as `date -u +%Y-%m-%dT%H:%M:%SZ` prints it); fractional seconds and \
     +00:00 are accepted";

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReleaseError::PgVersion { value, problem } => write!(
                f,
                "PostgreSQL version '{value}' {problem}; accepted: {ACCEPTED_PG_VERSION}"
            ),
            ReleaseError::Timestamp { value, problem } => write!(
                f,
                "timestamp '{value}' {problem}; accepted: {ACCEPTED_TIMESTAMP}"
            ),
        }
    }
}

impl std::error::Error for ReleaseError {}

/// A positive decimal number without sign or leading zero (`0` itself is allowed).
fn number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.len() > 1 && text.starts_with('0') {
        return None;
    }
    text.parse().ok()
}

/// Parses `18.6`, `18.10`, `18beta2`, `18rc1`, `18alpha1`, `19devel`, or a `postgres --version`
/// line (`postgres (PostgreSQL) 18.6 (Debian 18.6-1.pgdg13+1)`), whose version is the word after
/// `(PostgreSQL)`.
pub fn parse_pg_version(input: &str) -> Result<PgVersion, ReleaseError> {
    let error = |problem: &str| ReleaseError::PgVersion {
        value: input.to_string(),
        problem: problem.to_string(),
    };
    let trimmed = input.trim();
    let text = match trimmed.find("(PostgreSQL)") {
        Some(at) => trimmed[at + "(PostgreSQL)".len()..]
            .split_whitespace()
            .next()
            .ok_or_else(|| error("has no version after '(PostgreSQL)'"))?,
        None => trimmed,
    };
    if text.is_empty() {
        return Err(error("is empty"));
    }
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let major = number(&text[..digits_end])
        .ok_or_else(|| error("does not start with a major version number"))?;
    if major < 10 {
        return Err(error(
            "has a major version below 10 (the MAJOR.MINOR.PATCH scheme is not supported)",
        ));
    }
    let rest = &text[digits_end..];
    let pre_release = if let Some(minor) = rest.strip_prefix('.') {
        if number(minor).is_none() {
            return Err(if minor.split('.').all(|part| number(part).is_some()) {
                error("has more than two numbers (PostgreSQL 10 and later are MAJOR.MINOR)")
            } else {
                error("has a minor version that is not a number")
            });
        }
        None
    } else if rest == "devel" {
        Some(rest.to_string())
    } else {
        let counter = ["alpha", "beta", "rc"]
            .iter()
            .find_map(|kind| rest.strip_prefix(kind));
        match counter {
            Some(n) if number(n).is_some_and(|n| n > 0) => Some(rest.to_string()),
            Some(_) => return Err(error("has a pre-release without a number from 1 up")),
            None if rest.is_empty() => return Err(error("has no minor version")),
            None => return Err(error("has an unknown suffix after the major version")),
        }
    };
    Ok(PgVersion {
        text: text.to_string(),
        major,
        pre_release,
    })
}

fn is_leap(year: u32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses an RFC 3339 UTC time (`2026-11-27T12:34:00Z`; `t`/`z`, a space for `T`, fractional
/// seconds and a `+00:00` / `-00:00` offset are accepted). Any other offset is an error rather than
/// a silent conversion: tags are in UTC.
pub fn parse_timestamp(input: &str) -> Result<BuildTime, ReleaseError> {
    let error = |problem: &str| ReleaseError::Timestamp {
        value: input.to_string(),
        problem: problem.to_string(),
    };
    let text = input.trim();
    let bytes = text.as_bytes();
    if bytes.len() < 19 || !text.is_ascii() {
        return Err(error("is not a full date and time"));
    }
    let shape_ok = bytes[4] == b'-'
        && bytes[7] == b'-'
        && matches!(bytes[10], b'T' | b't' | b' ')
        && bytes[13] == b':'
        && bytes[16] == b':';
    if !shape_ok {
        return Err(error("is not shaped YYYY-MM-DDTHH:MM:SS"));
    }
    let field = |range: std::ops::Range<usize>| -> Result<u32, ReleaseError> {
        let part = &text[range];
        // All digits and at most four of them, so the parse cannot overflow.
        match part
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
        {
            Some(value) => Ok(value),
            None => Err(error("has a non-digit where a number belongs")),
        }
    };
    let (year, month, day) = (field(0..4)?, field(5..7)?, field(8..10)?);
    let (hour, minute, second) = (field(11..13)?, field(14..16)?, field(17..19)?);
    let mut zone = &text[19..];
    if let Some(fraction) = zone.strip_prefix('.') {
        let digits = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        if digits == 0 {
            return Err(error("has a '.' without fractional seconds"));
        }
        zone = &fraction[digits..];
    }
    match zone {
        "Z" | "z" | "+00:00" | "-00:00" => {}
        "" => return Err(error("has no time zone (end it with Z)")),
        _ => return Err(error("is not in UTC (end it with Z)")),
    }
    if !(1..=12).contains(&month) {
        return Err(error("has a month outside 01..12"));
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err(error("has a day that month does not have"));
    }
    // 60 is a leap second, which RFC 3339 allows.
    if hour > 23 || minute > 59 || second > 60 {
        return Err(error("has a time of day outside 00:00:00..23:59:60"));
    }
    if year < 2000 {
        return Err(error("is before the year 2000"));
    }
    Ok(BuildTime {
        year,
        month,
        day,
        hour,
        minute,
    })
}

/// The tag set, immutable tag first: `18.6-202611271234-single-node`, `18-single-node`, `18`; a
/// pre-release gets only its immutable tag.
pub fn image_tags(version: &PgVersion, time: &BuildTime) -> Vec<String> {
    let mut tags = vec![format!("{}-{}-{VARIANT}", version.text, time.compact())];
    if version.is_release() {
        tags.push(format!("{}-{VARIANT}", version.major));
        tags.push(version.major.to_string());
    }
    tags
}

/// Parses both inputs and computes the tags.
pub fn image_tags_from_strings(
    pg_version: &str,
    timestamp: &str,
) -> Result<(PgVersion, Vec<String>), ReleaseError> {
    let version = parse_pg_version(pg_version)?;
    let time = parse_timestamp(timestamp)?;
    let tags = image_tags(&version, &time);
    Ok((version, tags))
}

/// `key=value` lines for `$GITHUB_OUTPUT`: `version`, `major`, `release` (`true`/`false`),
/// `versioned-tag` (the immutable one) and `tags` (all of them, space-separated; no tag contains a
/// space).
pub fn github_output(version: &PgVersion, tags: &[String]) -> String {
    format!(
        "version={}\nmajor={}\nrelease={}\nversioned-tag={}\ntags={}\n",
        version.text,
        version.major,
        version.is_release(),
        tags[0],
        tags.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "2026-11-27T12:34:00Z";

    fn tags(version: &str, timestamp: &str) -> Vec<String> {
        image_tags_from_strings(version, timestamp)
            .unwrap_or_else(|e| panic!("{e}"))
            .1
    }

    fn version_error(version: &str) -> String {
        parse_pg_version(version)
            .expect_err(&format!("'{version}' must be refused"))
            .to_string()
    }

    fn timestamp_error(timestamp: &str) -> String {
        parse_timestamp(timestamp)
            .expect_err(&format!("'{timestamp}' must be refused"))
            .to_string()
    }

    #[test]
    fn a_release_gets_the_immutable_and_both_floating_tags() {
        assert_eq!(
            tags("18.6", T),
            ["18.6-202611271234-single-node", "18-single-node", "18"]
        );
    }

    #[test]
    fn a_two_digit_minor_is_kept_whole() {
        assert_eq!(
            tags("18.10", T),
            ["18.10-202611271234-single-node", "18-single-node", "18"]
        );
        assert_eq!(tags("18.0", T)[0], "18.0-202611271234-single-node");
    }

    #[test]
    fn the_whole_postgres_version_line_is_accepted() {
        let line = "postgres (PostgreSQL) 18.1 (Debian 18.1-1.pgdg13+2)\n";
        assert_eq!(
            tags(line, T),
            ["18.1-202611271234-single-node", "18-single-node", "18"]
        );
        assert_eq!(tags("postgres (PostgreSQL) 18.6", T)[2], "18");
        assert!(version_error("postgres (PostgreSQL)").contains("no version after"));
    }

    #[test]
    fn a_pre_release_gets_only_its_immutable_tag() {
        for (version, expected) in [
            ("18beta2", "18beta2-202611271234-single-node"),
            ("18rc1", "18rc1-202611271234-single-node"),
            ("19alpha1", "19alpha1-202611271234-single-node"),
            ("19devel", "19devel-202611271234-single-node"),
            (
                "postgres (PostgreSQL) 19beta1",
                "19beta1-202611271234-single-node",
            ),
        ] {
            assert_eq!(tags(version, T), [expected], "{version}");
        }
        let version = parse_pg_version("18beta2").unwrap();
        assert_eq!(version.pre_release.as_deref(), Some("beta2"));
        assert_eq!(version.major, 18);
    }

    #[test]
    fn bad_versions_are_refused_naming_the_value_and_the_accepted_form() {
        for (value, problem) in [
            ("", "is empty"),
            ("   ", "is empty"),
            ("18", "has no minor version"),
            ("18.", "minor version that is not a number"),
            ("18.x", "minor version that is not a number"),
            ("18.06", "minor version that is not a number"),
            ("18.6.1", "more than two numbers"),
            ("9.6", "below 10"),
            ("09.6", "does not start with a major version number"),
            ("v18.6", "does not start with a major version number"),
            ("latest", "does not start with a major version number"),
            ("18beta", "pre-release without a number"),
            ("18beta0", "pre-release without a number"),
            ("18gamma1", "unknown suffix"),
            ("18.6-1.pgdg13+2", "minor version that is not a number"),
            ("18 6", "unknown suffix"),
        ] {
            let message = version_error(value);
            assert!(
                message.contains(&format!("'{value}'")),
                "{value}: {message}"
            );
            assert!(message.contains(problem), "{value}: {message}");
            assert!(message.contains("accepted: MAJOR.MINOR"), "{message}");
        }
    }

    #[test]
    fn timestamps_in_utc_are_read_to_the_minute() {
        for value in [
            "2026-11-27T12:34:00Z",
            "2026-11-27T12:34:59Z",
            "2026-11-27t12:34:00z",
            "2026-11-27 12:34:00Z",
            "2026-11-27T12:34:00.123456Z",
            "2026-11-27T12:34:00+00:00",
            " 2026-11-27T12:34:00Z\n",
        ] {
            assert_eq!(
                parse_timestamp(value).map(|t| t.compact()),
                Ok("202611271234".to_string()),
                "{value}"
            );
        }
        assert_eq!(
            parse_timestamp("2028-02-29T00:00:00Z").unwrap().compact(),
            "202802290000"
        );
        assert_eq!(
            parse_timestamp("2026-12-31T23:59:60Z").unwrap().compact(),
            "202612312359"
        );
    }

    #[test]
    fn bad_timestamps_are_refused_naming_the_value_and_the_accepted_form() {
        for (value, problem) in [
            ("", "not a full date and time"),
            ("2026-11-27", "not a full date and time"),
            ("202611271234", "not a full date and time"),
            ("2026/11/27T12:34:00Z", "not shaped"),
            ("2026-11-27T12:34:00", "no time zone"),
            ("2026-11-27T12:34:00+01:00", "not in UTC"),
            ("2026-11-27T12:34:00.Z", "without fractional seconds"),
            ("2026-13-01T00:00:00Z", "month outside"),
            ("2026-00-01T00:00:00Z", "month outside"),
            ("2026-02-29T00:00:00Z", "day that month does not have"),
            ("2026-04-31T00:00:00Z", "day that month does not have"),
            ("2026-11-00T00:00:00Z", "day that month does not have"),
            ("2026-11-27T24:00:00Z", "time of day outside"),
            ("2026-11-27T12:60:00Z", "time of day outside"),
            ("2026-11-2aT12:34:00Z", "non-digit"),
            ("1999-12-31T23:59:59Z", "before the year 2000"),
            ("2026-11-27T12:34:00ZZ", "not in UTC"),
            ("2026-11-27T12:34:00Zé", "not a full date and time"),
        ] {
            let message = timestamp_error(value);
            assert!(
                message.contains(&format!("'{value}'")),
                "{value}: {message}"
            );
            assert!(message.contains(problem), "{value}: {message}");
            assert!(message.contains("YYYY-MM-DDTHH:MM:SSZ"), "{message}");
        }
    }

    #[test]
    fn a_bad_timestamp_is_an_error_even_with_a_good_version() {
        let error = image_tags_from_strings("18.6", "tomorrow").unwrap_err();
        assert!(matches!(error, ReleaseError::Timestamp { .. }), "{error}");
    }

    #[test]
    fn github_output_lists_every_tag_on_one_line() {
        let (version, tags) = image_tags_from_strings("18.10", T).unwrap();
        assert_eq!(
            github_output(&version, &tags),
            "version=18.10\nmajor=18\nrelease=true\n\
             versioned-tag=18.10-202611271234-single-node\n\
             tags=18.10-202611271234-single-node 18-single-node 18\n"
        );
        let (version, tags) = image_tags_from_strings("18rc1", T).unwrap();
        assert!(github_output(&version, &tags).contains("release=false\n"));
    }

    #[test]
    fn every_tag_is_a_valid_oci_tag() {
        // [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
        for version in ["18.6", "18.10", "18beta2", "19devel"] {
            for tag in tags(version, T) {
                assert!(tag.len() <= 128, "{tag}");
                assert!(
                    tag.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
                    "{tag}"
                );
                assert!(!tag.starts_with(['.', '-']), "{tag}");
            }
        }
    }
}
