//! Stand-ins for the process environment and the filesystem, for unit tests of the pure parsers that
//! take `lookup` and `read_file` functions.

use std::collections::HashMap;
use std::io;

/// A `lookup` function answering from `vars`.
pub fn fake_env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.get(name).cloned()
}

/// A `read_file` function (`*_FILE` variables) answering from `files`; other paths are not found.
pub fn fake_files(files: &[(&str, &str)]) -> impl Fn(&str) -> io::Result<(u64, Vec<u8>)> {
    let files: HashMap<String, String> = files
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |path| {
        files
            .get(path)
            .map(|content| (content.len() as u64, content.as_bytes().to_vec()))
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "No such file or directory"))
    }
}
