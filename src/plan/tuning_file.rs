//! The tuned settings as a configuration file (`PGDATA/aza-tuning.conf`) that `postgresql.conf`
//! includes before its own lines, so PostgreSQL's own order of precedence applies: the tuning <
//! `postgresql.conf` < `ALTER SYSTEM` < `-c`. A reload or `ALTER SYSTEM` then acts live, and the
//! file says, line by line, why each value was chosen.
//!
//! Pure text: rendering the file from a plan, and making a `postgresql.conf` include it. initdb
//! writes a few settings the entrypoint tunes as active lines (`max_connections = 100`, ...); those
//! lines, exactly as initdb writes them, are its defaults rather than anyone's choice, so they are
//! commented out (they would otherwise override the tuning). Any other line stays and wins.

use super::Plan;

/// The file's name in the data directory.
pub const FILE_NAME: &str = "aza-tuning.conf";
/// The line that includes it, relative to `postgresql.conf`'s directory.
pub const INCLUDE_LINE: &str = "include_if_exists = 'aza-tuning.conf'";
const INCLUDE_COMMENT: &str =
    "# aza-pg: settings tuned at every start; all below, ALTER SYSTEM and -c override them.";
const COMMENTED_BY_US: &str = "(aza-pg: initdb's default; tuned in aza-tuning.conf)";

/// The settings initdb 18 writes as active lines that the entrypoint tunes, with the comment initdb
/// leaves after each (from `postgresql.conf.sample`); values vary (initdb probes some of them).
const INITDB_LINES: [(&str, &str); 5] = [
    ("max_connections", "# (change requires restart)"),
    ("shared_buffers", "# min 128kB"),
    (
        "dynamic_shared_memory_type",
        "# the default is usually the first option",
    ),
    ("max_wal_size", ""),
    ("min_wal_size", ""),
];

/// The file for `plan`: each computed setting the user did not set, with its reason; the ones the
/// user set are listed commented out, with who set them.
pub fn render(plan: &Plan) -> String {
    let mut out = String::from(
        "# Written by aza-entrypoint at every start. Do not edit: set values in postgresql.conf,\n\
         # with ALTER SYSTEM or -c instead.\n",
    );
    for s in &plan.settings {
        let line = format!("{} = '{}'", s.name, s.value.replace('\'', "''"));
        match &s.overridden_by {
            None => out.push_str(&format!("{line:<48} # {}\n", s.reason)),
            Some(o) => out.push_str(&format!(
                "# {line:<46} # set by {}: {}\n",
                o.source.as_str(),
                o.value
            )),
        }
    }
    out
}

/// Whether configuration-file text includes the tuning file: an active `include` or
/// `include_if_exists` line naming it, relative (from `PGDATA/postgresql.conf`) or absolute.
pub fn includes(text: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim();
        let directive = line.starts_with("include_if_exists") || line.starts_with("include ");
        let names_it =
            line.contains(&format!("/{FILE_NAME}'")) || line.contains(&format!("'{FILE_NAME}'"));
        directive && names_it
    })
}

/// `postgresql.conf` text made to include the tuning file first, with initdb's own lines for tuned
/// settings commented out; `None` when it includes it already.
pub fn adopt(text: &str) -> Option<String> {
    adopt_with(text, INCLUDE_LINE)
}

/// [`adopt`] with another include line (an HA node's tuning file is named by its absolute path).
pub fn adopt_with(text: &str, include_line: &str) -> Option<String> {
    if includes(text) {
        return None;
    }
    let mut out = format!("{INCLUDE_COMMENT}\n{include_line}\n\n");
    for line in text.lines() {
        if is_initdb_line(line) {
            out.push_str(&format!("#{line}\t{COMMENTED_BY_US}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    Some(out)
}

/// `name = value` followed by nothing or by tabs and initdb's comment for that setting.
pub(super) fn is_initdb_line(line: &str) -> bool {
    INITDB_LINES.iter().any(|(name, comment)| {
        let Some(rest) = line.strip_prefix(name).and_then(|r| r.strip_prefix(" = ")) else {
            return false;
        };
        let (value, tail) = rest.split_once('\t').unwrap_or((rest, ""));
        let tail = tail.trim_start_matches('\t');
        !value.is_empty() && !value.contains(char::is_whitespace) && tail == *comment
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What initdb 18.6 writes (tabs included), as seen in a fresh cluster.
    const INITDB_CONF: &str = "# PostgreSQL configuration file\n\
        max_connections = 100\t\t\t# (change requires restart)\n\
        #superuser_reserved_connections = 3\n\
        shared_buffers = 128MB\t\t\t# min 128kB\n\
        dynamic_shared_memory_type = posix\t# the default is usually the first option\n\
        max_wal_size = 1GB\n\
        min_wal_size = 80MB\n\
        log_timezone = 'Etc/UTC'\n\
        autovacuum_worker_slots = 16\t\t# autovacuum worker slots to allocate\n";

    #[test]
    fn initdbs_lines_for_tuned_settings_are_commented_and_the_include_comes_first() {
        let adopted = adopt(INITDB_CONF).expect("not included yet");
        let active: Vec<&str> = adopted
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
            .collect();
        assert_eq!(
            active,
            [
                INCLUDE_LINE,
                "log_timezone = 'Etc/UTC'",
                "autovacuum_worker_slots = 16\t\t# autovacuum worker slots to allocate"
            ]
        );
        assert!(
            adopted.contains("#max_connections = 100\t\t\t# (change requires restart)\t(aza-pg:")
        );
        assert!(includes(&adopted));
        assert_eq!(adopt(&adopted), None, "adopting twice changes nothing");
    }

    #[test]
    fn a_users_own_lines_stay_and_win() {
        let text = "max_connections = 300\nshared_buffers = 2GB   # ours\nwork_mem = 64MB\n";
        let adopted = adopt(text).unwrap();
        for line in text.lines() {
            assert!(
                adopted.lines().any(|l| l == line),
                "{line} was changed:\n{adopted}"
            );
        }
        // The include comes first, so these later lines override the tuned values.
        assert!(adopted.find(INCLUDE_LINE) < adopted.find("max_connections = 300"));
    }

    #[test]
    fn a_commented_or_indented_include_does_not_count() {
        assert!(!includes("# include_if_exists = 'aza-tuning.conf'\n"));
        assert!(includes("  include_if_exists = 'aza-tuning.conf'  \n"));
        assert!(includes(
            "include '/var/lib/postgresql/18/docker/aza-tuning.conf'\n"
        ));
        assert!(!includes("include 'other-aza-tuning.conf'\n"));
    }
}
