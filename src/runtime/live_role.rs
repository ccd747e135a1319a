//! Asks the running server, and on an HA node Patroni's REST API, what this node is now: the role
//! section of a `version-info` printed in a running container.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::environment::{Environment, Uses};
use crate::version_info::role::{self, Configured, Now, PatroniView, RoleInfo};

use super::health;
use super::replication::Role;

/// How long each question may take: a print must not hang on a server that is starting.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// The configured role from the environment and what the server (and Patroni) answer now.
pub fn ask(env: &Environment) -> RoleInfo {
    let configured = match env.health.role {
        health::Role::Primary => Configured::Primary,
        health::Role::Replica => Configured::Replica,
        health::Role::Ha => Configured::Ha,
    };
    let now = match env.refusal(Uses::Healthcheck) {
        Some(refusal) => Now::Unknown(format!("cannot ask the server: {refusal}")),
        None => match health::ask(&env.health.target, TIMEOUT) {
            Ok(answer) => Now::Answered {
                in_recovery: answer.in_recovery,
                patroni: match &env.role {
                    Role::Ha(ha) => Some(patroni_view(ha.api_port)),
                    _ => None,
                },
            },
            Err(error) => Now::Unknown(error.to_string()),
        },
    };
    RoleInfo { configured, now }
}

/// `GET /patroni` on this node's REST API (it listens on every address, so loopback reaches it).
fn patroni_view(port: u16) -> Result<PatroniView, String> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let fail = |what: &str, e: std::io::Error| format!("{what} {address}: {e}");
    let mut stream =
        TcpStream::connect_timeout(&address, TIMEOUT).map_err(|e| fail("cannot connect to", e))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| fail("cannot set a timeout on", e))?;
    // HTTP/1.0: the server closes the connection after its answer, so reading to the end is the
    // whole answer, with no chunked encoding to undo.
    stream
        .write_all(b"GET /patroni HTTP/1.0\r\nHost: localhost\r\nAccept: application/json\r\n\r\n")
        .map_err(|e| fail("cannot send to", e))?;
    let mut answer = String::new();
    stream
        .take(1 << 20)
        .read_to_string(&mut answer)
        .map_err(|e| fail("no answer from", e))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .ok_or_else(|| format!("{address} answered without an HTTP header"))?;
    role::parse_patroni(body)
}
