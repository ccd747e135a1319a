//! What each scheduled backup leaves for monitoring: a file per backup type in the Prometheus text
//! format, for the node exporter's textfile collector (`--collector.textfile.directory`), written
//! whole and renamed into place by the job. A failed run keeps the time of the last success, so an
//! alert can fire on a backup that is too old whichever way the recent runs went.

use std::fmt::Write as _;

use super::schedule::BackupType;

/// One finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run<'a> {
    pub stanza: &'a str,
    pub kind: BackupType,
    pub success: bool,
    /// Seconds since the epoch.
    pub ended: f64,
    pub duration: f64,
}

/// The file one type's runs write.
pub fn file_name(kind: BackupType) -> String {
    format!("aza-backup-{}.prom", kind.name())
}

const LAST_SUCCESS: &str = "aza_backup_last_success_timestamp_seconds";

/// The file's text after `run`; `previous` is what the file held before (for the last success).
pub fn render(run: &Run<'_>, previous: Option<&str>) -> String {
    let labels = format!("{{stanza=\"{}\",type=\"{}\"}}", run.stanza, run.kind.name());
    let last_success = if run.success {
        Some(run.ended)
    } else {
        previous.and_then(last_success)
    };
    let mut text = String::new();
    let mut metric = |name: &str, help: &str, value: f64| {
        let _ = write!(
            text,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{labels} {value}\n"
        );
    };
    metric(
        "aza_backup_last_run_timestamp_seconds",
        "When the last scheduled pgBackRest backup of this type ended.",
        run.ended,
    );
    metric(
        "aza_backup_last_run_success",
        "1 if the last scheduled pgBackRest backup of this type succeeded, else 0.",
        if run.success { 1.0 } else { 0.0 },
    );
    metric(
        "aza_backup_last_run_duration_seconds",
        "How long the last scheduled pgBackRest backup of this type took.",
        run.duration,
    );
    if let Some(at) = last_success {
        metric(
            LAST_SUCCESS,
            "When the last successful scheduled pgBackRest backup of this type ended.",
            at,
        );
    }
    text
}

/// The last success a file of ours records.
fn last_success(text: &str) -> Option<f64> {
    text.lines()
        .find(|line| {
            line.starts_with(LAST_SUCCESS) && line.as_bytes().get(LAST_SUCCESS.len()) == Some(&b'{')
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(success: bool, ended: f64) -> Run<'static> {
        Run {
            stanza: "main",
            kind: BackupType::Full,
            success,
            ended,
            duration: 12.5,
        }
    }

    #[test]
    fn a_success_is_recorded_and_a_failure_keeps_the_last_success() {
        let ok = render(&run(true, 1_796_206_500.0), None);
        assert!(ok.contains("aza_backup_last_run_success{stanza=\"main\",type=\"full\"} 1\n"));
        assert!(ok.contains(
            "aza_backup_last_success_timestamp_seconds{stanza=\"main\",type=\"full\"} 1796206500\n"
        ));
        assert!(ok.contains(
            "aza_backup_last_run_duration_seconds{stanza=\"main\",type=\"full\"} 12.5\n"
        ));
        let failed = render(&run(false, 1_796_210_000.0), Some(&ok));
        assert!(failed.contains("aza_backup_last_run_success{stanza=\"main\",type=\"full\"} 0\n"));
        assert!(failed.contains(
            "aza_backup_last_run_timestamp_seconds{stanza=\"main\",type=\"full\"} 1796210000\n"
        ));
        assert!(failed.contains(
            "aza_backup_last_success_timestamp_seconds{stanza=\"main\",type=\"full\"} 1796206500\n"
        ));
        let never = render(&run(false, 1_796_210_000.0), None);
        assert!(!never.contains("last_success_timestamp"));
        assert_eq!(file_name(BackupType::Diff), "aza-backup-diff.prom");
    }
}
