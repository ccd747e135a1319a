//! Process control: logging, handing over to other programs, and supervising PostgreSQL as PID 1.

pub mod contract;
pub mod datadir;
pub mod exec;
pub mod init;
pub mod log;
pub mod preflight;
pub mod privileges;
pub mod replica;
pub mod replication;
pub mod signals;
pub mod start;
pub mod supervise;
