//! Process control: logging, handing over to other programs, and supervising PostgreSQL as PID 1.

pub mod exec;
pub mod log;
pub mod signals;
pub mod supervise;
