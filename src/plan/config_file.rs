//! Reading PostgreSQL's configuration-file grammar (`name = value`, quoted values, `#` comments), as
//! `ALTER SYSTEM` writes `postgresql.auto.conf` and as users write `postgresql.conf`.

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

/// The settings a user made in `postgresql.conf` (or their own `config_file`): every active line but
/// `include` directives and initdb's own lines for tuned settings, which are its defaults, not a
/// choice (a start comments them out). Files it includes are not followed.
pub fn parse_user_conf(text: &str) -> Vec<(String, String)> {
    let chosen: String = text
        .lines()
        .filter(|line| !super::tuning_file::is_initdb_line(line))
        .map(|line| format!("{line}\n"))
        .collect();
    parse_auto_conf(&chosen)
        .into_iter()
        .filter(|(name, _)| !name.starts_with("include"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_lines_count_and_initdbs_defaults_and_includes_do_not() {
        let text = "include_if_exists = 'aza-tuning.conf'\n\
            max_connections = 100\t\t\t# (change requires restart)\n\
            #work_mem = 4MB\n\
            work_mem = '64MB'   # ours\n\
            shared_buffers = 2GB\n\
            include 'more.conf'\n";
        assert_eq!(
            parse_user_conf(text),
            [
                ("work_mem".to_string(), "64MB".to_string()),
                ("shared_buffers".to_string(), "2GB".to_string())
            ]
        );
    }
}
