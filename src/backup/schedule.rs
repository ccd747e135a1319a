//! Scheduled backups, for the backup sidecar (`aza-backup schedule`): when each type of backup runs,
//! read from the environment, and the crontab Debian's cron runs them from.
//!
//! - `AZA_BACKUP_FULL_SCHEDULE` (default `0 1 * * 0`, Sundays at 01:00), `AZA_BACKUP_DIFF_SCHEDULE`
//!   (default `0 1 * * 1-6`, the other days), `AZA_BACKUP_INCR_SCHEDULE` (default `off`): five cron
//!   fields, an `@daily`-style word, or `off`. Times are the container's (UTC in the image).
//! - Retention is pgBackRest's own (`PGBACKREST_REPO1_RETENTION_FULL`, ...; see [`super::conf`]).
//!
//! cron starts its jobs with an empty environment: the crontab sets what `aza-backup run` reads itself
//! (the stanza, the log format, where the metrics go); everything pgBackRest reads is in its
//! configuration file, written by the sidecar at its start.

use std::fmt::Write as _;

use crate::runtime::contract::Reader;

/// A pgBackRest backup type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupType {
    Full,
    Diff,
    Incr,
}

impl BackupType {
    pub const ALL: [BackupType; 3] = [BackupType::Full, BackupType::Diff, BackupType::Incr];

    /// pgBackRest's name (`--type=full`).
    pub fn name(self) -> &'static str {
        match self {
            BackupType::Full => "full",
            BackupType::Diff => "diff",
            BackupType::Incr => "incr",
        }
    }

    pub fn from_name(name: &str) -> Option<BackupType> {
        BackupType::ALL
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(name))
    }

    fn variable(self) -> &'static str {
        match self {
            BackupType::Full => "AZA_BACKUP_FULL_SCHEDULE",
            BackupType::Diff => "AZA_BACKUP_DIFF_SCHEDULE",
            BackupType::Incr => "AZA_BACKUP_INCR_SCHEDULE",
        }
    }

    fn default_schedule(self) -> Option<&'static str> {
        match self {
            BackupType::Full => Some("0 1 * * 0"),
            BackupType::Diff => Some("0 1 * * 1-6"),
            BackupType::Incr => None,
        }
    }
}

/// When each type runs; a type without a job never runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    pub jobs: Vec<(BackupType, String)>,
}

/// cron's shorthand words (Debian's cron knows each).
const WORDS: &[&str] = &[
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

impl Schedule {
    /// Reads the three schedules; problems are kept in `r`.
    pub fn read(r: &mut Reader<'_>) -> Schedule {
        let mut jobs = Vec::new();
        for kind in BackupType::ALL {
            let value = r.get(kind.variable());
            let when = match value.as_deref().map(str::trim) {
                None => kind.default_schedule().map(str::to_string),
                Some(off) if off.eq_ignore_ascii_case("off") => None,
                Some(when) => match check_cron_time(when) {
                    Ok(()) => Some(when.split_whitespace().collect::<Vec<_>>().join(" ")),
                    Err(problem) => {
                        r.problem(
                            kind.variable(),
                            format!("='{}' {problem}", when.escape_debug()),
                        );
                        None
                    }
                },
            };
            if let Some(when) = when {
                jobs.push((kind, when));
            }
        }
        Schedule { jobs }
    }
}

/// Five fields Debian's cron accepts, or one of its words. cron ignores a whole crontab with one bad
/// line, so every job would silently stop: each field is checked against its range here.
fn check_cron_time(when: &str) -> Result<(), String> {
    let accepted = "use five fields (minute hour day-of-month month day-of-week, as 0 1 * * 0 or \
                    */15 * * * *), one of @hourly, @daily, @weekly, @monthly, @yearly, or off";
    let fields: Vec<&str> = when.split_whitespace().collect();
    match fields.as_slice() {
        [word] if WORDS.contains(&word.to_ascii_lowercase().as_str()) => Ok(()),
        five if five.len() == 5 => {
            for (field, (name, low, high, names)) in five.iter().zip(FIELDS) {
                if !field_is_valid(field, low, high, names) {
                    return Err(format!(
                        "has '{field}' as its {name}, outside {low}-{high}{}: {accepted}",
                        if names.is_empty() {
                            ""
                        } else {
                            " (or a name, as mon or jan)"
                        }
                    ));
                }
            }
            Ok(())
        }
        _ => Err(format!("is not a cron schedule: {accepted}")),
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// Each field's name, range, and the names it takes (Debian's crontab(5)).
const FIELDS: [(&str, u32, u32, &[&str]); 5] = [
    ("minute", 0, 59, &[]),
    ("hour", 0, 23, &[]),
    ("day of month", 1, 31, &[]),
    ("month", 1, 12, &MONTHS),
    ("day of week", 0, 7, &DAYS),
];

/// `*`, a number, a range `a-b`, either with `/step`, comma-separated; or one name (`mon`, `jan`).
fn field_is_valid(field: &str, low: u32, high: u32, names: &[&str]) -> bool {
    if names.iter().any(|name| name.eq_ignore_ascii_case(field)) {
        return true;
    }
    let number = |text: &str| {
        text.parse::<u32>()
            .ok()
            .filter(|n| (low..=high).contains(n))
    };
    field.split(',').all(|item| {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        let step_ok =
            step.is_none_or(|step| step.parse::<u32>().is_ok_and(|s| (1..=high).contains(&s)));
        let range_ok = range == "*"
            || match range.split_once('-') {
                Some((from, to)) => {
                    matches!((number(from), number(to)), (Some(a), Some(b)) if a <= b)
                }
                None => number(range).is_some(),
            };
        step_ok && range_ok
    })
}

/// Where the job's output goes: the sidecar's own log (its PID 1's standard output and error).
const CONTAINER_LOG: &str = ">/proc/1/fd/1 2>/proc/1/fd/2";

/// The crontab for `/etc/cron.d`: `environment` (name, value) lines, then one line per job, each
/// running `program run TYPE` as root (it becomes the server's user itself).
pub fn crontab(schedule: &Schedule, program: &str, environment: &[(String, String)]) -> String {
    let mut text = String::from(
        "# Written by aza-backup at every start from AZA_BACKUP_*_SCHEDULE; edits here are overwritten.\n\
         SHELL=/bin/sh\n\
         PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
    );
    for (name, value) in environment {
        let _ = writeln!(text, "{name}={value}");
    }
    for (kind, when) in &schedule.jobs {
        let _ = writeln!(
            text,
            "{when} root {program} run {} {CONTAINER_LOG}",
            kind.name()
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fake_env, fake_files};

    fn read(vars: &[(&str, &str)]) -> (Schedule, Vec<String>) {
        let lookup = fake_env(vars);
        let files = fake_files(&[]);
        let mut r = Reader::new(&lookup, &files);
        let schedule = Schedule::read(&mut r);
        (
            schedule,
            r.into_problems().iter().map(ToString::to_string).collect(),
        )
    }

    #[test]
    fn weekly_full_and_daily_differential_by_default() {
        let (schedule, problems) = read(&[]);
        assert!(problems.is_empty());
        assert_eq!(
            schedule.jobs,
            [
                (BackupType::Full, "0 1 * * 0".to_string()),
                (BackupType::Diff, "0 1 * * 1-6".to_string())
            ]
        );
    }

    #[test]
    fn schedules_can_be_changed_or_turned_off_and_bad_ones_are_refused() {
        let (schedule, problems) = read(&[
            ("AZA_BACKUP_FULL_SCHEDULE", "@daily"),
            ("AZA_BACKUP_DIFF_SCHEDULE", "OFF"),
            ("AZA_BACKUP_INCR_SCHEDULE", " */15  *   * * * "),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            schedule.jobs,
            [
                (BackupType::Full, "@daily".to_string()),
                (BackupType::Incr, "*/15 * * * *".to_string())
            ]
        );
        let (schedule, problems) = read(&[
            ("AZA_BACKUP_FULL_SCHEDULE", "0 1 * *"),
            ("AZA_BACKUP_DIFF_SCHEDULE", "0 1 * * 1; rm -rf /"),
            ("AZA_BACKUP_INCR_SCHEDULE", "@sometimes"),
        ]);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].starts_with("AZA_BACKUP_FULL_SCHEDULE='0 1 * *' is not a cron schedule")
        );
        assert!(schedule.jobs.is_empty());
        for (bad, field) in [
            ("0 25 * * *", "'25' as its hour, outside 0-23"),
            ("60 1 * * *", "'60' as its minute"),
            (
                "0 1 * * sunday",
                "'sunday' as its day of week, outside 0-7 (or a name",
            ),
            ("a b c d e", "'a' as its minute"),
            ("0 1 5-2 * *", "'5-2' as its day of month"),
            ("*/0 * * * *", "'*/0' as its minute"),
        ] {
            let (_, problems) = read(&[("AZA_BACKUP_FULL_SCHEDULE", bad)]);
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            assert!(problems[0].contains(field), "{bad}: {}", problems[0]);
        }
        for good in [
            "0 1 * * sun",
            "0 1 1,15 jan *",
            "*/5 8-18/2 * * 1-5",
            "0 0 * * 7",
        ] {
            let (_, problems) = read(&[("AZA_BACKUP_FULL_SCHEDULE", good)]);
            assert!(problems.is_empty(), "{good}: {problems:?}");
        }
    }

    #[test]
    fn the_crontab_runs_each_job_as_root_into_the_container_log() {
        let (schedule, _) = read(&[("AZA_BACKUP_INCR_SCHEDULE", "*/15 * * * *")]);
        let text = crontab(
            &schedule,
            "/usr/local/bin/aza-backup",
            &[("PGBACKREST_STANZA".into(), "main".into())],
        );
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "SHELL=/bin/sh",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "PGBACKREST_STANZA=main",
                "0 1 * * 0 root /usr/local/bin/aza-backup run full >/proc/1/fd/1 2>/proc/1/fd/2",
                "0 1 * * 1-6 root /usr/local/bin/aza-backup run diff >/proc/1/fd/1 2>/proc/1/fd/2",
                "*/15 * * * * root /usr/local/bin/aza-backup run incr >/proc/1/fd/1 2>/proc/1/fd/2",
            ]
        );
    }
}
