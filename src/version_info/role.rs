//! The node's role in version-info: what `POSTGRES_ROLE` asks for and, when a running container
//! prints the document, what the server (and in HA mode Patroni) says it is now.
//!
//! Pure: the shell asks the server and Patroni's REST API (`runtime::live_role`) and hands the
//! answers here. The files a start writes hold only the configured role, since a replica can be
//! promoted and Patroni moves the leader without a restart; they say how to ask.

use serde_json::{json, Value};

/// What `POSTGRES_ROLE` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Configured {
    Primary,
    Replica,
    /// A Patroni node: leader or replica, as Patroni decides.
    Ha,
}

impl Configured {
    pub fn as_str(self) -> &'static str {
        match self {
            Configured::Primary => "primary",
            Configured::Replica => "replica",
            Configured::Ha => "ha",
        }
    }

    fn meaning(self) -> &'static str {
        match self {
            Configured::Primary => "a primary, which accepts writes",
            Configured::Replica => "a streaming replica of POSTGRES_PRIMARY_HOST",
            Configured::Ha => "a Patroni node: leader or replica, as Patroni decides",
        }
    }
}

/// Patroni's own view of the node, from `GET /patroni`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatroniView {
    /// `primary`, `replica`, `standby_leader`, ...
    pub role: String,
    /// `running`, `starting`, `stopped`, ...
    pub state: String,
    pub timeline: Option<u64>,
}

/// What the running server says now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Now {
    /// Written at a start: the role can change afterwards, so the file does not claim one.
    NotAsked,
    /// The server answered `pg_is_in_recovery()`; in HA mode Patroni's view, or why there is none.
    Answered {
        in_recovery: bool,
        patroni: Option<Result<PatroniView, String>>,
    },
    /// The server did not answer (not running, starting, refused): why.
    Unknown(String),
}

/// The role section of version-info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    pub configured: Configured,
    pub now: Now,
}

/// Reads Patroni's `GET /patroni` document: its `role` and `state` are required, `timeline` is
/// there once the node runs.
pub fn parse_patroni(body: &str) -> Result<PatroniView, String> {
    let document: Value = serde_json::from_str(body)
        .map_err(|e| format!("Patroni's /patroni answer is not JSON ({e})"))?;
    let text = |key: &str| {
        document
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("Patroni's /patroni answer has no \"{key}\""))
    };
    Ok(PatroniView {
        role: text("role")?,
        state: text("state")?,
        timeline: document.get("timeline").and_then(Value::as_u64),
    })
}

impl RoleInfo {
    /// `leader`, `replica`, ...: the one word for the role now, when the server answered.
    pub fn now_word(&self) -> Option<&'static str> {
        let Now::Answered { in_recovery, .. } = &self.now else {
            return None;
        };
        Some(match (self.configured, in_recovery) {
            (Configured::Ha, false) => "leader",
            (Configured::Ha, true) => "replica",
            (_, false) => "primary",
            (_, true) => "replica",
        })
    }

    /// A server out of recovery where a replica was asked for (promoted since the start), or the
    /// other way round; Patroni's view that differs from the server's (a switchover under way).
    fn note(&self) -> Option<String> {
        let Now::Answered {
            in_recovery,
            patroni,
        } = &self.now
        else {
            return None;
        };
        match (self.configured, in_recovery, patroni) {
            (Configured::Replica, false, _) => Some(
                "promoted since this container started; it no longer follows its primary".into(),
            ),
            (Configured::Primary, true, _) => Some(
                "in recovery although POSTGRES_ROLE is primary (a recovery or restore is running)"
                    .into(),
            ),
            (Configured::Ha, in_recovery, Some(Ok(view))) => {
                let leads = matches!(view.role.as_str(), "primary" | "master" | "standby_leader");
                (leads == *in_recovery && view.role != "standby_leader").then(|| {
                    format!(
                        "Patroni says {} while the server is {}in recovery: a switchover or \
                         failover is under way; ask again",
                        view.role,
                        if *in_recovery { "" } else { "not " }
                    )
                })
            }
            _ => None,
        }
    }

    /// The text section.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "\nROLE\n  Configured: {} ({})\n",
            self.configured.as_str(),
            self.configured.meaning()
        );
        let now = match &self.now {
            Now::NotAsked => {
                "not recorded in this file, which a start writes; the role can change \
                              afterwards: `aza-entrypoint version-info` in the container asks the \
                              running server"
                    .to_string()
            }
            Now::Unknown(why) => format!("unknown: {why}"),
            Now::Answered {
                in_recovery,
                patroni,
            } => {
                let mut line = format!(
                    "{} (the server is {}in recovery",
                    self.now_word().unwrap_or("unknown"),
                    if *in_recovery { "" } else { "not " }
                );
                match patroni {
                    Some(Ok(view)) => {
                        line.push_str(&format!("; Patroni: {}, {}", view.role, view.state));
                        if let Some(timeline) = view.timeline {
                            line.push_str(&format!(", timeline {timeline}"));
                        }
                    }
                    Some(Err(why)) => line.push_str(&format!("; Patroni did not answer: {why}")),
                    None => {}
                }
                line.push(')');
                line
            }
        };
        out.push_str(&format!("  Now:        {now}\n"));
        if let Some(note) = self.note() {
            out.push_str(&format!("  Note:       {note}\n"));
        }
        out
    }

    /// The JSON object.
    pub fn to_json(&self) -> Value {
        let mut role = json!({ "configured": self.configured.as_str() });
        match &self.now {
            Now::NotAsked => {
                role["now"] = Value::Null;
                role["now_unknown"] = json!(
                    "written at a start; `aza-entrypoint version-info` asks the running server"
                );
            }
            Now::Unknown(why) => {
                role["now"] = Value::Null;
                role["now_unknown"] = json!(why);
            }
            Now::Answered {
                in_recovery,
                patroni,
            } => {
                role["now"] = json!(self.now_word());
                role["in_recovery"] = json!(in_recovery);
                match patroni {
                    Some(Ok(view)) => {
                        role["patroni"] = json!({
                            "role": view.role,
                            "state": view.state,
                            "timeline": view.timeline,
                        });
                    }
                    Some(Err(why)) => role["patroni_unknown"] = json!(why),
                    None => {}
                }
            }
        }
        if let Some(note) = self.note() {
            role["note"] = json!(note);
        }
        role
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(configured: Configured, in_recovery: bool, patroni: Option<&str>) -> RoleInfo {
        RoleInfo {
            configured,
            now: Now::Answered {
                in_recovery,
                patroni: patroni.map(parse_patroni),
            },
        }
    }

    const LEADER: &str = r#"{"state": "running", "role": "primary", "timeline": 3,
        "patroni": {"version": "4.1.5", "scope": "aza-pg", "name": "pg2"}}"#;
    const REPLICA: &str = r#"{"state": "running", "role": "replica", "timeline": 3}"#;

    #[test]
    fn patronis_document_gives_role_state_and_timeline() {
        assert_eq!(
            parse_patroni(LEADER),
            Ok(PatroniView {
                role: "primary".into(),
                state: "running".into(),
                timeline: Some(3),
            })
        );
        let starting = parse_patroni(r#"{"state": "starting", "role": "uninitialized"}"#).unwrap();
        assert_eq!(starting.timeline, None);
        assert!(parse_patroni("<html>").unwrap_err().contains("not JSON"));
        assert!(parse_patroni(r#"{"state": "running"}"#)
            .unwrap_err()
            .contains("no \"role\""));
    }

    #[test]
    fn an_ha_node_is_leader_or_replica_by_the_server_with_patronis_view() {
        let leader = answered(Configured::Ha, false, Some(LEADER));
        assert_eq!(leader.now_word(), Some("leader"));
        let text = leader.to_text();
        assert!(text.contains("Configured: ha (a Patroni node"), "{text}");
        assert!(
            text.contains(
                "Now:        leader (the server is not in recovery; Patroni: primary, running, timeline 3)"
            ),
            "{text}"
        );
        assert!(!text.contains("Note:"), "{text}");
        let json = leader.to_json();
        assert_eq!(json["now"], "leader");
        assert_eq!(json["patroni"]["timeline"], 3);

        let replica = answered(Configured::Ha, true, Some(REPLICA));
        assert_eq!(replica.now_word(), Some("replica"));
        assert_eq!(replica.to_json()["in_recovery"], true);

        // Patroni and the server disagree for a moment during a switchover: said, not hidden.
        let moving = answered(Configured::Ha, true, Some(LEADER));
        assert!(moving.to_text().contains("switchover or failover"));
        assert!(moving.to_json()["note"].is_string());

        let silent = answered(Configured::Ha, false, Some("not json"));
        assert!(silent.to_text().contains("Patroni did not answer"));
        assert!(silent.to_json()["patroni_unknown"].is_string());
    }

    #[test]
    fn a_promoted_replica_is_called_primary_with_a_note() {
        let promoted = answered(Configured::Replica, false, None);
        assert_eq!(promoted.now_word(), Some("primary"));
        assert!(promoted.to_text().contains("promoted since"));
        let steady = answered(Configured::Replica, true, None);
        assert_eq!(steady.now_word(), Some("replica"));
        assert!(!steady.to_text().contains("Note:"));
        assert_eq!(
            answered(Configured::Primary, false, None).now_word(),
            Some("primary")
        );
    }

    #[test]
    fn a_start_written_file_claims_no_current_role() {
        let at_start = RoleInfo {
            configured: Configured::Ha,
            now: Now::NotAsked,
        };
        assert!(at_start.to_text().contains("aza-entrypoint version-info"));
        assert_eq!(at_start.now_word(), None);
        assert!(at_start.to_json()["now"].is_null());
        let down = RoleInfo {
            configured: Configured::Primary,
            now: Now::Unknown("no server on socket /var/run/postgresql/.s.PGSQL.5432".into()),
        };
        assert!(down.to_text().contains("Now:        unknown: no server"));
        assert_eq!(
            down.to_json()["now_unknown"],
            "no server on socket /var/run/postgresql/.s.PGSQL.5432"
        );
    }
}
