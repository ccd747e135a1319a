//! Reading PostgreSQL's configuration-file grammar (`name = value`, quoted values, `#` comments), as
//! `ALTER SYSTEM` writes `postgresql.auto.conf`.

use super::arguments::normalise_name;

/// Parses `postgresql.auto.conf` (as written by `ALTER SYSTEM`) into `(normalised name, value)` pairs.
/// Unparseable lines are skipped: PostgreSQL itself will report them.
pub fn parse_auto_conf(text: &str) -> Vec<(String, String)> {
    let mut settings = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(line.len());
        let (name, rest) = line.split_at(name_end);
        let rest = rest.trim_start();
        let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('\'') {
            let mut value = String::new();
            let mut chars = quoted.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\'' if chars.peek() == Some(&'\'') => {
                        chars.next();
                        value.push('\'');
                    }
                    '\'' => break,
                    '\\' => value.extend(chars.next()),
                    other => value.push(other),
                }
            }
            value
        } else {
            rest.split(|c: char| c == '#' || c.is_whitespace())
                .next()
                .unwrap_or("")
                .to_string()
        };
        if !name.is_empty() {
            settings.push((normalise_name(name), value));
        }
    }
    settings
}
