//! pgAudit's session logging from the environment: `POSTGRES_PGAUDIT_LOG`, the statement classes
//! `pgaudit.log` takes, checked here so a typo is refused at start instead of by the server.

use crate::runtime::contract::Reader;

/// The classes `pgaudit.log` accepts (each may be excluded with a leading `-`).
pub const CLASSES: [&str; 9] = [
    "read", "write", "function", "role", "ddl", "misc", "misc_set", "all", "none",
];

/// `POSTGRES_PGAUDIT_LOG`, normalised (lower case, no blanks), or `None` when unset.
pub fn read_log(r: &mut Reader<'_>) -> Option<String> {
    let raw = r.get("POSTGRES_PGAUDIT_LOG")?;
    let classes: Vec<String> = raw
        .split(',')
        .map(|class| class.trim().to_ascii_lowercase())
        .collect();
    let unknown: Vec<&str> = classes
        .iter()
        .map(String::as_str)
        .filter(|class| !CLASSES.contains(&class.strip_prefix('-').unwrap_or(class)))
        .collect();
    if !unknown.is_empty() {
        r.problem(
            "POSTGRES_PGAUDIT_LOG",
            format!(
                "='{raw}' names {}, which pgaudit.log does not take: a comma list of {} (-class \
                 excludes one)",
                unknown.join(", "),
                CLASSES.join(", ")
            ),
        );
        return None;
    }
    Some(classes.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fake_env, fake_files};

    fn read(value: &str) -> Result<Option<String>, String> {
        let lookup = fake_env(&[("POSTGRES_PGAUDIT_LOG", value)]);
        let files = fake_files(&[]);
        let mut r = Reader::new(&lookup, &files);
        let log = read_log(&mut r);
        r.finish(log).map_err(|e| e.to_string())
    }

    #[test]
    fn classes_are_checked_and_normalised() {
        assert_eq!(read("DDL, role").unwrap().as_deref(), Some("ddl,role"));
        assert_eq!(read("all,-misc").unwrap().as_deref(), Some("all,-misc"));
        assert_eq!(read("").unwrap(), None);
        let bad = read("ddl,writes").unwrap_err();
        assert!(
            bad.starts_with("POSTGRES_PGAUDIT_LOG='ddl,writes' names writes"),
            "{bad}"
        );
    }
}
