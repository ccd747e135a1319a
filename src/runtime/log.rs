//! The entrypoint's own log lines.
//!
//! Text (the default) keeps the `[POSTGRES]`-prefixed shape existing log scrapers know: errors and
//! warnings on stderr, the rest on stdout. `AZA_LOG_FORMAT=json` writes one JSON object per line
//! instead (`ts`, `level`, `msg` and structured fields), to the same streams. `AZA_LOG_LEVEL` filters.
//! PostgreSQL's own output never passes through here: the server inherits the streams directly.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::contract::Reader;
use super::stdio::Stream;
use crate::plan::Plan;
use crate::report;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSettings {
    pub format: Format,
    pub level: Level,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: Format::Text,
            level: Level::Info,
        }
    }
}

static SETTINGS: OnceLock<LogSettings> = OnceLock::new();

impl LogSettings {
    /// Reads `AZA_LOG_FORMAT` and `AZA_LOG_LEVEL` (any case; empty = unset); bad values are kept in `r`.
    pub fn read(r: &mut Reader<'_>) -> LogSettings {
        LogSettings {
            format: r.choice(
                "AZA_LOG_FORMAT",
                &[("text", Format::Text), ("json", Format::Json)],
                Format::Text,
            ),
            level: r.choice(
                "AZA_LOG_LEVEL",
                &[
                    ("error", Level::Error),
                    ("warn", Level::Warn),
                    ("warning", Level::Warn),
                    ("info", Level::Info),
                    ("debug", Level::Debug),
                ],
                Level::Info,
            ),
        }
    }
}

/// Sets the log settings, once, before anything else is logged (later calls change nothing).
pub fn configure(settings: LogSettings) {
    let _ = SETTINGS.set(settings);
}

fn settings() -> LogSettings {
    SETTINGS.get().copied().unwrap_or_default()
}

/// Logs one event. In text form the fields are left out (the message says it all); in JSON they
/// follow `ts`, `level` and `msg`.
pub fn event(level: Level, message: &str, fields: &[(&str, Value)]) {
    let settings = settings();
    if level > settings.level {
        return;
    }
    let line = match settings.format {
        Format::Text => text_line(level, message),
        Format::Json => json_line(level, message, fields, SystemTime::now()),
    };
    // Never println!: a log line must neither panic nor block PID 1 (see `stdio`).
    let stream = match level {
        Level::Error | Level::Warn => Stream::Err,
        Level::Info | Level::Debug => Stream::Out,
    };
    super::stdio::write_line(stream, &line);
}

fn text_line(level: Level, message: &str) -> String {
    let prefix = match level {
        Level::Error => "[POSTGRES] ERROR: ",
        Level::Warn => "[POSTGRES] WARNING: ",
        Level::Info | Level::Debug => "[POSTGRES] ",
    };
    message
        .lines()
        .map(|line| format!("{prefix}{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn json_line(level: Level, message: &str, fields: &[(&str, Value)], now: SystemTime) -> String {
    let mut object = Map::new();
    object.insert("ts".into(), Value::String(rfc3339(now)));
    object.insert("level".into(), Value::String(level.as_str().into()));
    object.insert("msg".into(), Value::String(message.into()));
    for (name, value) in fields {
        object.insert((*name).to_string(), value.clone());
    }
    Value::Object(object).to_string()
}

/// UTC time as RFC 3339 with milliseconds, computed without a date library (days → civil date).
pub fn rfc3339(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Howard Hinnant's days-from-civil inverse, valid for every date after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since_epoch.subsec_millis()
    )
}

pub fn error(message: &str) {
    event(Level::Error, message, &[]);
}

pub fn warning(message: &str) {
    event(Level::Warn, message, &[]);
}

pub fn info(message: &str) {
    event(Level::Info, message, &[]);
}

/// Everything a start logs about its tuning: warnings, notices, the summary and any overrides.
pub fn plan(plan: &Plan) {
    for warning_text in &plan.warnings {
        warning(warning_text);
    }
    for notice in &plan.notices {
        info(&format!("[AUTO-CONFIG] {notice}"));
    }
    let listen = plan
        .settings
        .iter()
        .find(|s| s.name == "listen_addresses")
        .map(|s| s.value.as_str());
    match listen {
        Some("127.0.0.1") => {
            info("[AUTO-CONFIG] Secure mode (localhost only) \u{2192} listen_addresses=127.0.0.1")
        }
        Some(addresses) => info(&format!(
            "[AUTO-CONFIG] Network mode enabled \u{2192} listen_addresses={addresses}"
        )),
        None => {}
    }
    let libraries = plan.preload_libraries_in_force().join(",");
    let source = plan.preload_libraries_source();
    event(
        Level::Info,
        &format!("[AUTO-CONFIG] shared_preload_libraries={libraries} ({source})"),
        &[
            ("shared_preload_libraries", libraries.clone().into()),
            ("source", source.clone().into()),
            ("image_catalog", plan.image.describe().into()),
        ],
    );
    let r = &plan.resources;
    let settings: Map<String, Value> = plan
        .applied()
        .map(|s| (s.name.to_string(), Value::String(s.value.clone())))
        .collect();
    // The summary already carries the `[POSTGRES]` prefix in its text form.
    let summary = plan.summary_line();
    let message = summary.strip_prefix("[POSTGRES] ").unwrap_or(&summary);
    event(
        Level::Info,
        message,
        &[
            ("memory_mb", r.memory_mb.into()),
            ("memory_source", r.memory_source.as_str().into()),
            ("memory_origin", r.memory_origin.clone().into()),
            ("cpus", r.cpus.into()),
            ("cpu_source", r.cpu_source.as_str().into()),
            ("workload", plan.workload.0.as_str().into()),
            ("storage", plan.storage.0.as_str().into()),
            ("settings", Value::Object(settings)),
        ],
    );
    for (line, setting) in report::override_lines(plan)
        .into_iter()
        .zip(plan.overridden())
    {
        let message = line
            .strip_prefix("[POSTGRES] ")
            .unwrap_or(&line)
            .to_string();
        let by = setting.overridden_by.as_ref();
        event(
            Level::Info,
            &message,
            &[
                ("setting", setting.name.into()),
                ("computed", setting.value.clone().into()),
                (
                    "value",
                    by.map(|o| o.value.clone()).unwrap_or_default().into(),
                ),
                (
                    "overridden_by",
                    by.map(|o| o.source.as_str()).unwrap_or_default().into(),
                ),
            ],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(951_782_400_123)),
            "2000-02-29T00:00:00.123Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_823_999)),
            "2026-11-27T23:59:59.000Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(4_107_542_400)),
            "2100-03-01T00:00:00.000Z"
        );
    }

    #[test]
    fn json_lines_carry_fields() {
        let line = json_line(
            Level::Warn,
            "disk \"full\"",
            &[("step", "initdb".into()), ("duration_ms", 12.into())],
            UNIX_EPOCH,
        );
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["level"], "warn");
        assert_eq!(value["msg"], "disk \"full\"");
        assert_eq!(value["step"], "initdb");
        assert_eq!(value["duration_ms"], 12);
        assert_eq!(value["ts"], "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn text_lines_keep_the_upstream_prefixes() {
        assert_eq!(
            text_line(Level::Error, "a\nb"),
            "[POSTGRES] ERROR: a\n[POSTGRES] ERROR: b"
        );
        assert_eq!(text_line(Level::Warn, "w"), "[POSTGRES] WARNING: w");
        assert_eq!(
            text_line(Level::Info, "[AUTO-CONFIG] x"),
            "[POSTGRES] [AUTO-CONFIG] x"
        );
    }

    #[test]
    fn settings_are_validated_in_any_case() {
        let read = |vars: &[(&str, &str)]| {
            let lookup = crate::test_support::fake_env(vars);
            let files = crate::test_support::fake_files(&[]);
            let mut reader = Reader::new(&lookup, &files);
            let settings = LogSettings::read(&mut reader);
            reader.finish(settings).map_err(|e| e.to_string())
        };
        assert_eq!(read(&[]), Ok(LogSettings::default()));
        assert_eq!(
            read(&[("AZA_LOG_FORMAT", "JSON"), ("AZA_LOG_LEVEL", "WARN")]),
            Ok(LogSettings {
                format: Format::Json,
                level: Level::Warn
            })
        );
        let both = read(&[("AZA_LOG_FORMAT", "yaml"), ("AZA_LOG_LEVEL", "loud")]).unwrap_err();
        assert!(both.contains("AZA_LOG_FORMAT='yaml'"), "{both}");
        assert!(both.contains("AZA_LOG_LEVEL='loud'"), "{both}");
    }
}
