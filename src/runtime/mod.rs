//! Process control: logging, handing over to other programs, supervising PostgreSQL as PID 1, and
//! checking its health.

pub mod contract;
pub mod datadir;
pub mod exec;
pub mod health;
pub mod init;
pub mod log;
pub mod preflight;
pub mod privileges;
pub mod signals;
pub mod start;
pub mod supervise;
