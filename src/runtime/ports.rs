//! Whether the port the server will listen on is free, checked before anything is started, so that a
//! port in use is a clear problem with its fix instead of PostgreSQL's "could not create any TCP/IP
//! sockets" after initialisation.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};

use crate::plan;

/// A problem for each address of the server's `listen_addresses` (taken from its final arguments) on
/// which `port` is already taken. Binding and closing again is what PostgreSQL would do first; like
/// PostgreSQL, the standard library sets SO_REUSEADDR, so only a socket that listens there counts.
pub fn in_use(port: u16, server_args: &[String]) -> Vec<String> {
    let listen = plan::command_line_settings(server_args)
        .into_iter()
        .rev()
        .find(|(name, _)| name == "listen_addresses")
        .map(|(_, value)| value)
        .unwrap_or_else(|| "localhost".to_string());
    let mut problems = Vec::new();
    for address in addresses(&listen) {
        let at = SocketAddr::new(address, port);
        match TcpListener::bind(at) {
            Err(error) if error.kind() == ErrorKind::AddrInUse => problems.push(format!(
                "port {port} is already in use on {} (listen_addresses={listen}): stop what holds it \
                 (a second container on the host's network?) or choose another port with PGPORT or -p",
                address_shown(address)
            )),
            // An address this container does not have (no IPv6, say) is PostgreSQL's to report; it
            // starts when at least one address works.
            _ => {}
        }
    }
    problems
}

/// The IP addresses `listen_addresses` names: `*` is every IPv4 and IPv6 address, `localhost` the
/// loopback ones; host names other than `localhost` are left to PostgreSQL.
fn addresses(listen: &str) -> Vec<IpAddr> {
    let mut found = Vec::new();
    for item in listen.split(',').map(str::trim) {
        match item {
            "*" => found.extend([
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            ]),
            "localhost" => found.extend([
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ]),
            other => found.extend(other.parse::<IpAddr>()),
        }
    }
    found
}

fn address_shown(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) if v4.is_unspecified() => "every IPv4 address".to_string(),
        IpAddr::V6(v6) if v6.is_unspecified() => "every IPv6 address".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_become_the_addresses_to_try() {
        assert_eq!(addresses("").len(), 0);
        assert_eq!(addresses("*").len(), 2);
        assert_eq!(
            addresses("127.0.0.1, ::1,db.example"),
            [
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
    }

    #[test]
    fn a_port_someone_listens_on_is_a_problem_naming_it_and_a_free_one_is_not() {
        let holder = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = holder.local_addr().unwrap().port();
        let args = ["-c".to_string(), "listen_addresses=127.0.0.1".to_string()];
        let problems = in_use(port, &args);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with(&format!("port {port} is already in use on 127.0.0.1")));
        assert!(problems[0].contains("PGPORT"), "{}", problems[0]);
        drop(holder);
        assert!(in_use(port, &args).is_empty());
    }
}
