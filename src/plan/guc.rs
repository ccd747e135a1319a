//! PostgreSQL's memory values as a user writes them (`256MB`, `2GB`, `'1.5GB'`, `131072` in the
//! setting's base unit), in MB, so that a value the user set can enter the formulas and the budget.

/// `value` in MB, where a bare number counts in `base_kb` kilobytes (`shared_buffers`: 8, `work_mem`:
/// 1). Units as PostgreSQL takes them (case-sensitive: B, kB, MB, GB, TB); a fraction is allowed.
/// `None` for what PostgreSQL would refuse (it reports that itself) and for -1.
pub fn memory_mb(value: &str, base_kb: u64) -> Option<u64> {
    let value = value.trim().trim_matches('\'').trim();
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    let kb_per_unit = match unit.trim() {
        "" => base_kb as f64,
        "B" => 1.0 / 1024.0,
        "kB" => 1.0,
        "MB" => 1024.0,
        "GB" => 1024.0 * 1024.0,
        "TB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let mb = number * kb_per_unit / 1024.0;
    (0.0..1e12).contains(&mb).then(|| mb.ceil() as u64)
}

/// A boolean as PostgreSQL takes it (`on`, `off`, `true`, `false`, `yes`, `no`, `1`, `0`, any case,
/// quoted or not); `None` for what it would refuse.
pub fn boolean(value: &str) -> Option<bool> {
    let value = value.trim().trim_matches('\'').trim().to_ascii_lowercase();
    match value.as_str() {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{boolean, memory_mb};

    #[test]
    fn postgresqls_booleans() {
        assert_eq!(boolean("'ON'"), Some(true));
        assert_eq!(boolean("off"), Some(false));
        assert_eq!(boolean(" 0 "), Some(false));
        assert_eq!(boolean("maybe"), None);
    }

    #[test]
    fn postgresqls_spellings_in_megabytes() {
        assert_eq!(memory_mb("256MB", 1), Some(256));
        assert_eq!(memory_mb("'2GB'", 8), Some(2048));
        assert_eq!(memory_mb("1.5GB", 1), Some(1536));
        assert_eq!(memory_mb("65536", 1), Some(64), "work_mem counts in kB");
        assert_eq!(
            memory_mb("16384", 8),
            Some(128),
            "shared_buffers in 8 kB pages"
        );
        assert_eq!(memory_mb("64kB", 1), Some(1), "rounded up");
        assert_eq!(
            memory_mb("2mb", 1),
            None,
            "PostgreSQL's units are case-sensitive"
        );
        assert_eq!(memory_mb("-1", 1), None);
        assert_eq!(memory_mb("lots", 1), None);
    }
}
