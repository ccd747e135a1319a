//! Reading `postgres`' own command line: the settings it sets (`-c name=value`, `--name=value`, `-B`,
//! `-N`, `-S`, `-h`, `-i`, `-k`, `-p`) and the data directory (`-D`), as PostgreSQL's getopt reads them.

/// PostgreSQL treats GUC names case-insensitively and reads `-` as `_` in `--name=value`.
pub fn normalise_name(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('-', "_")
}

/// postgres' short options that take a value (from its getopt string); their values must be skipped.
const OPTIONS_WITH_VALUE: &[u8] = b"BCcDdfhkNprStW";

/// The settings the user's arguments set, in order, as `(normalised name, value)`.
pub fn command_line_settings(args: &[String]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if let Some(long) = arg.strip_prefix("--") {
            if let Some((name, value)) = long.split_once('=') {
                found.push((normalise_name(name), value.to_string()));
            }
            continue;
        }
        let Some(short) = arg.strip_prefix('-') else {
            continue;
        };
        let Some(&flag) = short.as_bytes().first() else {
            continue;
        };
        if flag == b'i' {
            found.push(("listen_addresses".to_string(), "*".to_string()));
            continue;
        }
        if !OPTIONS_WITH_VALUE.contains(&flag) {
            continue;
        }
        let value = if short.len() > 1 {
            Some(short[1..].to_string())
        } else {
            rest.next().cloned()
        };
        let Some(value) = value else { continue };
        let setting = match flag {
            b'c' => value
                .split_once('=')
                .map(|(n, v)| (normalise_name(n), v.to_string())),
            b'B' => Some(("shared_buffers".to_string(), value)),
            b'N' => Some(("max_connections".to_string(), value)),
            b'S' => Some(("work_mem".to_string(), value)),
            b'h' => Some(("listen_addresses".to_string(), value)),
            b'k' => Some(("unix_socket_directories".to_string(), value)),
            b'p' => Some(("port".to_string(), value)),
            _ => None,
        };
        found.extend(setting);
    }
    found
}

/// The data directory the user's arguments name with `-D`, if any.
pub fn command_line_data_directory(args: &[String]) -> Option<String> {
    let mut rest = args.iter();
    let mut found = None;
    while let Some(arg) = rest.next() {
        if arg == "-D" {
            found = rest.next().cloned();
        } else if let Some(dir) = arg.strip_prefix("-D") {
            found = Some(dir.to_string());
        } else if arg.len() == 2
            && arg.starts_with('-')
            && OPTIONS_WITH_VALUE.contains(&arg.as_bytes()[1])
        {
            rest.next();
        }
    }
    found
}
