//! Process control: logging, handing over to other programs, and (later) supervising PostgreSQL.

pub mod contract;
pub mod exec;
pub mod log;
