//! The entrypoint's own writes to stdout and stderr, made so that none can panic or block PID 1.
//!
//! `print!` panics when the reader of a pipe has gone (EPIPE), and a plain write blocks while a pipe is
//! full (a log shipper that stalled). Log lines therefore go through a second, non-blocking open of the
//! same pipe (`/proc/self/fd/N` opens a new file description of it, so the flag does not reach the
//! server, which shares the original): a line that does not fit now is dropped and counted, and the
//! next line that fits says how many were lost. Anything that is not a pipe is written as usual, errors
//! dropped.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::fcntl::{fcntl, open, FcntlArg, OFlag};
use nix::sys::stat::{fstat, Mode, SFlag};

/// Which standard stream a line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

impl Stream {
    fn number(self) -> i32 {
        match self {
            Stream::Out => 1,
            Stream::Err => 2,
        }
    }
}

/// Opens `/dev/null` on each of descriptors 0, 1 and 2 that is closed. Without this, the first file the
/// entrypoint opened (a lock, a log) would get number 1 or 2, and log lines would be written into it.
pub fn fill_closed_standard_descriptors() {
    for number in 0..=2 {
        if fcntl(number, FcntlArg::F_GETFD) == Err(Errno::EBADF) {
            // The lowest free number is taken, which is `number` since the lower ones are open. On
            // failure there is nothing better to do: the descriptor stays closed.
            if let Ok(fd) = open("/dev/null", OFlag::O_RDWR, Mode::empty()) {
                if fd != number {
                    let _ = nix::unistd::close(fd);
                }
            }
        }
    }
}

/// Opens the non-blocking twins of stdout and stderr now: later (after the privileges are dropped
/// the process is no longer dumpable) `/proc/self/fd` would refuse to open them.
pub fn prepare() {
    let _ = nonblocking(Stream::Out);
}

/// Writes one log line (a newline is added) without blocking when the stream is a full pipe. A line
/// longer than the pipe's atomic size (4 KiB) can be cut where the pipe filled up; the next line then
/// starts on a fresh line.
pub fn write_line(stream: Stream, line: &str) {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    let lost = DROPPED.swap(0, Ordering::Relaxed);
    if lost > 0 {
        bytes.extend_from_slice(
            format!("[POSTGRES] WARNING: {lost} log lines were dropped: the output was full\n")
                .as_bytes(),
        );
    }
    if CUT.swap(false, Ordering::Relaxed) {
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    let written = match nonblocking(stream) {
        Some(fd) => write_all(fd.as_fd(), &bytes),
        None => blocking_write(stream, &bytes),
    };
    if !written {
        DROPPED.fetch_add(1 + lost, Ordering::Relaxed);
    }
}

/// Report output (`--dry-run`, `--help`): written in full, however slowly the reader takes it, but a
/// reader that has gone is not an error.
pub fn print(text: &str) {
    blocking_write(Stream::Out, text.as_bytes());
}

/// As [`print`], on stderr.
pub fn eprint(text: &str) {
    blocking_write(Stream::Err, text.as_bytes());
}

static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Part of a line went out and the rest did not.
static CUT: AtomicBool = AtomicBool::new(false);

fn blocking_write(stream: Stream, bytes: &[u8]) -> bool {
    let result = match stream {
        Stream::Out => std::io::stdout().lock().write_all(bytes),
        Stream::Err => std::io::stderr().lock().write_all(bytes),
    };
    result.is_ok()
}

/// The stream's non-blocking twin when it is a pipe, opened once.
fn nonblocking(stream: Stream) -> Option<&'static OwnedFd> {
    static TWINS: OnceLock<[Option<OwnedFd>; 2]> = OnceLock::new();
    let twins = TWINS.get_or_init(|| [open_twin(Stream::Out), open_twin(Stream::Err)]);
    twins[stream.number() as usize - 1].as_ref()
}

fn open_twin(stream: Stream) -> Option<OwnedFd> {
    let number = stream.number();
    let is_pipe = fstat(number)
        .map(|stat| SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFIFO)
        .unwrap_or(false);
    if !is_pipe {
        return None;
    }
    let path = format!("/proc/self/fd/{number}");
    let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd = open(path.as_str(), flags, Mode::empty()).ok()?;
    // SAFETY: `open` just returned this descriptor and nothing else owns it.
    Some(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// Writes all of `bytes` unless the pipe is full or gone; false when anything was left unwritten.
fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> bool {
    let mut started = false;
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(0) => break,
            Ok(n) => {
                bytes = &bytes[n..];
                started = true;
            }
            Err(Errno::EINTR) => continue,
            // EAGAIN: full; EPIPE: the reader has gone; anything else: nothing we can do.
            Err(_) => break,
        }
    }
    if !bytes.is_empty() && started {
        CUT.store(true, Ordering::Relaxed);
    }
    bytes.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_pipe_takes_no_more_and_does_not_block() {
        let (read_end, write_end) = nix::unistd::pipe().unwrap();
        fcntl(
            std::os::fd::AsRawFd::as_raw_fd(&write_end),
            FcntlArg::F_SETFL(OFlag::O_NONBLOCK),
        )
        .unwrap();
        let chunk = vec![b'x'; 4096];
        let mut accepted = 0;
        while write_all(write_end.as_fd(), &chunk) {
            accepted += 1;
            assert!(accepted < 10_000, "a pipe never fills up");
        }
        assert!(accepted > 0);
        drop(read_end);
        assert!(
            !write_all(write_end.as_fd(), b"gone\n"),
            "EPIPE is a failed write, not a panic"
        );
    }
}
