//! Process control: logging, handing over to other programs, and (later) supervising PostgreSQL.

pub mod contract;
pub mod datadir;
pub mod exec;
pub mod log;
pub mod preflight;
pub mod privileges;
