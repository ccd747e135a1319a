//! A typed setting: its name, the value the entrypoint chose, why, and who overrode it.

/// Who set a value that the entrypoint would otherwise have computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideSource {
    CommandLine,
    AlterSystem,
    /// A line of the configuration file in use (`postgresql.conf`, or the user's `config_file`).
    ConfigFile,
}

impl OverrideSource {
    pub fn as_str(self) -> &'static str {
        match self {
            OverrideSource::CommandLine => "command line",
            OverrideSource::AlterSystem => "ALTER SYSTEM",
            OverrideSource::ConfigFile => "postgresql.conf",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub source: OverrideSource,
    pub value: String,
}

/// One computed setting: the value the entrypoint chose, why, and who overrode it, if anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
    pub overridden_by: Option<Override>,
}
