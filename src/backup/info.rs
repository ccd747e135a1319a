//! What a restore can reach, from `pgbackrest info --output=json`: the stanza's backups with the times
//! they ended. Decided before anything is written, so that a restore with no backup, an unknown backup
//! or a target time before every backup's end exits with the reason and leaves `PGDATA` as it was.
//! (A target after the end of the archive shows only in recovery: PostgreSQL stops with "recovery
//! ended before configured recovery target was reached".)

use serde_json::Value;

use super::time::TargetTime;
use super::RestoreRequest;

/// One backup in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupEntry {
    pub label: String,
    /// `full`, `diff` or `incr`.
    pub kind: String,
    /// When it ended (a restore of it is consistent from there on).
    pub stop: TargetTime,
}

/// The stanza as `info` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaInfo {
    /// pgBackRest's status message (`ok`, `missing stanza path`, `no valid backups`, ...).
    pub status: String,
    /// Oldest first, as `info` lists them.
    pub backups: Vec<BackupEntry>,
    /// The newest WAL segment in the archive (of the current database), when there is one.
    pub archive_max: Option<String>,
}

/// Reads `stanza`'s entry from the JSON `info` printed. pgBackRest prints its warnings on the same
/// stream, before the JSON (an unknown `PGBACKREST_*` variable, say): those lines are skipped.
pub fn parse(output: &str, stanza: &str) -> Result<StanzaInfo, String> {
    let json = output.find("\n[").map_or(output, |at| &output[at + 1..]);
    let value: Value = serde_json::from_str(json)
        .map_err(|e| format!("pgbackrest info printed no JSON ({e}): {}", output.trim()))?;
    let entry = value
        .as_array()
        .and_then(|stanzas| {
            stanzas
                .iter()
                .find(|s| s.get("name").and_then(Value::as_str) == Some(stanza))
        })
        .ok_or_else(|| format!("pgbackrest info does not list the stanza {stanza}"))?;
    let status = entry
        .pointer("/status/message")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    let backups = entry
        .get("backup")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter(|b| b.get("error").and_then(Value::as_bool) != Some(true))
                .filter_map(|b| {
                    Some(BackupEntry {
                        label: b.get("label")?.as_str()?.to_string(),
                        kind: b.get("type")?.as_str()?.to_string(),
                        stop: TargetTime::from_epoch(b.pointer("/timestamp/stop")?.as_i64()?),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let archive_max = entry
        .get("archive")
        .and_then(Value::as_array)
        .and_then(|archives| archives.last())
        .and_then(|archive| archive.get("max"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(StanzaInfo {
        status,
        backups,
        archive_max,
    })
}

/// The backup a restore starts from, or why none can serve `request`.
pub fn choose<'a>(
    info: &'a StanzaInfo,
    stanza: &str,
    request: &RestoreRequest,
) -> Result<&'a BackupEntry, String> {
    let (Some(oldest), Some(newest)) = (info.backups.first(), info.backups.last()) else {
        return Err(format!(
            "the repository has no backup of stanza {stanza} (pgbackrest info: {}): nothing to \
             restore; check the PGBACKREST_REPO1_* variables point at the repository the backups \
             went to, or start without AZA_RESTORE_SET and AZA_RESTORE_TARGET_TIME to initialise a \
             new cluster",
            info.status
        ));
    };
    let labels = || {
        info.backups
            .iter()
            .map(|b| format!("{} ({}, ended {})", b.label, b.kind, b.stop))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen = match &request.set {
        Some(set) => info
            .backups
            .iter()
            .find(|b| &b.label == set)
            .ok_or_else(|| {
                format!(
                    "AZA_RESTORE_SET='{set}' is not a backup of stanza {stanza}; the repository has {}",
                    labels()
                )
            })?,
        // pgBackRest's own choice: the newest that ended before the target (with none, the oldest,
        // which the check below then refuses with the list).
        None => match request.target_time {
            Some(target) => info
                .backups
                .iter()
                .rev()
                .find(|b| b.stop < target)
                .unwrap_or(oldest),
            None => newest,
        },
    };
    if let Some(target) = request.target_time {
        if target <= chosen.stop {
            return Err(format!(
                "AZA_RESTORE_TARGET_TIME='{target}' is not after the end of backup {} ({}): a \
                 backup can be recovered only to a time after it ended; the repository has {}",
                chosen.label,
                chosen.stop,
                labels()
            ));
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As pgBackRest 2.60 prints it (abridged to the fields read, plus one more of each).
    const INFO: &str = r#"[{"archive":[{"id":"18-1","max":"000000010000000000000007","min":"000000010000000000000003"}],
      "backup":[
        {"label":"20261202-100000F","type":"full","error":false,"timestamp":{"start":1796205590,"stop":1796205600}},
        {"label":"20261202-100000F_20261202-110000D","type":"diff","error":false,"timestamp":{"start":1796209190,"stop":1796209200}},
        {"label":"20261202-120000F","type":"full","error":true,"timestamp":{"start":1796212790,"stop":1796212800}}],
      "name":"main","status":{"code":0,"message":"ok"}},
      {"backup":[],"name":"other","status":{"code":2,"message":"no valid backups"}}]"#;

    fn request(set: Option<&str>, time: Option<&str>) -> RestoreRequest {
        RestoreRequest {
            set: set.map(String::from),
            target_time: time.map(|t| TargetTime::parse(t).expect("a time")),
        }
    }

    #[test]
    fn backups_with_an_error_are_left_out() {
        let info = parse(INFO, "main").expect("parsed");
        assert_eq!(info.status, "ok");
        let labels: Vec<_> = info.backups.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(
            labels,
            ["20261202-100000F", "20261202-100000F_20261202-110000D"]
        );
        assert_eq!(info.backups[0].stop.to_string(), "2026-12-02 10:00:00+00");
        assert_eq!(
            info.archive_max.as_deref(),
            Some("000000010000000000000007")
        );
    }

    #[test]
    fn the_latest_or_the_latest_before_the_target_is_chosen() {
        let info = parse(INFO, "main").expect("parsed");
        let chosen = |r: RestoreRequest| choose(&info, "main", &r).map(|b| b.label.clone());
        assert_eq!(
            chosen(request(None, None)).as_deref(),
            Ok("20261202-100000F_20261202-110000D")
        );
        assert_eq!(
            chosen(request(None, Some("2026-12-02 10:30:00+00"))).as_deref(),
            Ok("20261202-100000F")
        );
        assert_eq!(
            chosen(request(
                Some("20261202-100000F"),
                Some("2026-12-02 11:30:00Z")
            ))
            .as_deref(),
            Ok("20261202-100000F")
        );
    }

    #[test]
    fn no_backup_an_unknown_one_or_a_target_before_the_backup_is_refused() {
        let other = parse(INFO, "other").expect("parsed");
        let error = choose(&other, "other", &request(None, None)).unwrap_err();
        assert!(
            error.starts_with(
                "the repository has no backup of stanza other (pgbackrest info: no valid backups)"
            ),
            "{error}"
        );

        let info = parse(INFO, "main").expect("parsed");
        let error = choose(&info, "main", &request(Some("20261201-000000F"), None)).unwrap_err();
        assert!(error.contains("is not a backup of stanza main; the repository has 20261202-100000F (full, ended 2026-12-02 10:00:00+00)"), "{error}");

        let error = choose(
            &info,
            "main",
            &request(None, Some("2026-12-02 09:00:00+00")),
        )
        .unwrap_err();
        assert!(error.starts_with("AZA_RESTORE_TARGET_TIME='2026-12-02 09:00:00+00' is not after the end of backup 20261202-100000F"), "{error}");
        let error = choose(
            &info,
            "main",
            &request(
                Some("20261202-100000F_20261202-110000D"),
                Some("2026-12-02 10:30:00+00"),
            ),
        )
        .unwrap_err();
        assert!(
            error.contains("end of backup 20261202-100000F_20261202-110000D"),
            "{error}"
        );

        assert!(parse(INFO, "missing")
            .unwrap_err()
            .contains("does not list the stanza missing"));
        assert!(parse("ERROR", "main").unwrap_err().contains("no JSON"));
        let warned = format!("P00   WARN: environment contains invalid option 'x'\n{INFO}");
        assert_eq!(parse(&warned, "main"), parse(INFO, "main"));
    }
}
