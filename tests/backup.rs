//! Backups for real, nothing lost: pgBackRest in the local image with its repository on a volume or on
//! an SFTP host made from Debian's openssh-server, WAL archived by the server the entrypoint
//! configured, and restores as first starts into fresh volumes.

mod support;

use std::time::Duration;

use support::docker::{
    engine_or_skip, package_image, wait_for, write_readable, Container, Network, Volume,
};

const PGDATA: &str = "/var/lib/postgresql/18/docker";
const REPO: &str = "/var/lib/pgbackrest";

/// A server of the image with backups on, its repository on `repo`.
fn primary(tag: &str, repo: &Volume, extra: &[&str]) -> Container {
    let repo_mount = repo.mount(REPO);
    let mut options = vec![
        "-e",
        "PGBACKREST_STANZA=main",
        "-e",
        "POSTGRES_MEMORY=1g",
        "-v",
        &repo_mount,
    ];
    options.extend_from_slice(extra);
    let container = Container::start(tag, &options, &[]);
    container.wait_healthy(Duration::from_secs(60));
    container
}

/// `pgbackrest backup` run in the container as postgres; its label.
fn backup(container: &Container, kind: &str) -> String {
    let kind = format!("--type={kind}");
    container
        .exec_as(
            "postgres",
            &["pgbackrest", "--stanza=main", &kind, "backup"],
        )
        .unwrap_or_else(|e| panic!("pgbackrest backup: {e}\n{}", container.context()));
    let info = container
        .exec_as(
            "postgres",
            &["pgbackrest", "--stanza=main", "--output=json", "info"],
        )
        .expect("pgbackrest info");
    let value = info_json(&info);
    value[0]["backup"]
        .as_array()
        .and_then(|backups| backups.last())
        .and_then(|last| last["label"].as_str())
        .unwrap_or_else(|| panic!("no backup after pgbackrest backup: {info}"))
        .to_string()
}

/// `pgbackrest info --output=json`'s JSON: pgBackRest prints its warnings on the same stream first
/// (a `PGBACKREST_..._FILE` variable in a `docker exec` session is one it does not know).
fn info_json(output: &str) -> serde_json::Value {
    let json = output.find('[').map_or(output, |at| &output[at..]);
    serde_json::from_str(json).unwrap_or_else(|e| panic!("pgbackrest info: {e}: {output}"))
}

/// Closes the current WAL segment and waits until the archiver reports it archived. A transaction
/// first, so that there is a segment to close (a switch on an empty segment does nothing).
fn archive_everything(container: &Container) -> String {
    container.psql_ok("SELECT pg_current_xact_id()");
    let segment = container.psql_ok("SELECT pg_walfile_name(pg_switch_wal())");
    wait_for(
        &format!("segment {segment} archived"),
        Duration::from_secs(30),
        || {
            // A segment's name is 24 characters; a backup's history file adds a suffix.
            let last = container
                .psql_ok("SELECT left(coalesce(last_archived_wal, ''), 24) FROM pg_stat_archiver");
            if last.as_str() >= segment.as_str() {
                Ok(())
            } else {
                Err(format!("last archived: {last}"))
            }
        },
        || container.context(),
    );
    segment
}

/// A first start that restores from `repo` into a fresh data volume; `env` chooses what.
fn restore_start(
    tag: &str,
    repo: &Volume,
    data: &Volume,
    env: &[&str],
    args: &[&str],
) -> Container {
    let repo_mount = repo.mount(REPO);
    let data_mount = data.mount("/var/lib/postgresql");
    let mut options = vec![
        "-e",
        "PGBACKREST_STANZA=main",
        "-e",
        "POSTGRES_MEMORY=1g",
        "-v",
        &repo_mount,
        "-v",
        &data_mount,
    ];
    for variable in env {
        options.extend(["-e", variable]);
    }
    let mut command = vec!["postgres"];
    command.extend_from_slice(args);
    // No POSTGRES_PASSWORD needed: the restored cluster brings its own. Container::start passes the
    // test's anyway, which a restore ignores.
    Container::start(tag, &options, &command)
}

/// Waits until `container`'s log holds `text`.
fn wait_logged(container: &Container, text: &str, limit_seconds: u64) {
    wait_for(
        &format!("'{text}' in {}'s log", container.name),
        Duration::from_secs(limit_seconds),
        || {
            if container.logs().contains(text) {
                Ok(())
            } else {
                Err("not yet".to_string())
            }
        },
        || container.context(),
    );
}

fn rows(container: &Container) -> String {
    container.psql_ok("SELECT coalesce(string_agg(x, ',' ORDER BY x), '') FROM t")
}

#[test]
fn a_point_in_time_restore_brings_back_exactly_what_was_committed_before_the_target() {
    if !engine_or_skip(
        "a_point_in_time_restore_brings_back_exactly_what_was_committed_before_the_target",
    ) {
        return;
    }
    let repo = Volume::create("bk-repo");
    let first = primary("bk-pitr", &repo, &[]);
    let stanza_created = first.logs();
    assert!(
        stanza_created.contains("pgbackrest stanza-create (stanza main"),
        "the first start created no stanza\n{}",
        first.context()
    );
    assert_eq!(
        first.psql_ok(
            "SELECT current_setting('archive_mode') || ' ' || current_setting('archive_command')"
        ),
        "on pgbackrest --stanza=main archive-push %p"
    );
    let label = backup(&first, "full");
    first.psql_ok("CREATE TABLE t (x text)");
    first.psql_ok("INSERT INTO t VALUES ('A')");
    let target = first.psql_ok("SELECT clock_timestamp()::text");
    first.psql_ok("INSERT INTO t VALUES ('B')");
    archive_everything(&first);

    // To the time between A and B, beside the running primary: archive_mode=off, so the restored
    // server's new timeline does not go into the stanza the primary still writes.
    let data = Volume::create("bk-pitr-data");
    let target_env = format!("AZA_RESTORE_TARGET_TIME={target}");
    let to_target = restore_start(
        "bk-pitr-t",
        &repo,
        &data,
        &[&target_env],
        &["-c", "archive_mode=off"],
    );
    to_target.wait_healthy(Duration::from_secs(90));
    assert_eq!(rows(&to_target), "A", "{}", to_target.context());
    let log = to_target.logs();
    assert!(
        log.contains(&format!("backup {label} (full"))
            && log.contains("[RESTORE] restore complete"),
        "{}",
        to_target.context()
    );
    // The restored primary is a primary, and its recovery target is gone (a replica copied from it
    // would otherwise stop at the old target).
    assert_eq!(
        to_target.psql_ok(
            "SELECT pg_is_in_recovery()::text || '|' || current_setting('recovery_target_time') || '|' || current_setting('restore_command')"
        ),
        "false||pgbackrest --stanza=main archive-get %f \"%p\""
    );
    to_target.psql_ok("INSERT INTO t VALUES ('C')");

    // To the end of the archive: A and B.
    let data_end = Volume::create("bk-pitr-end");
    let to_end = restore_start(
        "bk-pitr-end",
        &repo,
        &data_end,
        &["AZA_RESTORE_SET=latest"],
        &["-c", "archive_mode=off"],
    );
    to_end.wait_healthy(Duration::from_secs(90));
    assert_eq!(rows(&to_end), "A,B", "{}", to_end.context());
}

#[test]
fn a_restore_that_cannot_reach_its_target_exits_1_and_leaves_pgdata_as_it_was() {
    if !engine_or_skip("a_restore_that_cannot_reach_its_target_exits_1_and_leaves_pgdata_as_it_was")
    {
        return;
    }
    let repo = Volume::create("bk-none-repo");
    let first = primary("bk-none", &repo, &[]);
    let data = Volume::create("bk-none-data");
    let refused = |tag: &str, env: &str, expected: &str| {
        let attempt = restore_start(tag, &repo, &data, &[env], &[]);
        let code = attempt.wait_exited(Duration::from_secs(60));
        let log = attempt.logs();
        assert_eq!(code, 1, "{env}: exit code\n{}", attempt.context());
        assert!(
            log.contains(expected),
            "{env}: no '{expected}'\n{}",
            attempt.context()
        );
        assert!(
            log.contains("PGDATA was left as it was"),
            "{}",
            attempt.context()
        );
        // Only the entrypoint's lock file: no cluster, no staging directory.
        let listing = data.listing();
        let mut entries: Vec<&str> = listing.lines().filter(|l| !l.is_empty()).collect();
        entries.sort_unstable();
        assert_eq!(
            entries,
            ["18", "18/docker", "18/docker/.aza-entrypoint.lock"],
            "{env}: the data volume holds more than the lock"
        );
    };
    refused(
        "bk-none-1",
        "AZA_RESTORE_SET=latest",
        "the repository has no backup of stanza main",
    );
    let label = backup(&first, "full");
    refused(
        "bk-none-2",
        "AZA_RESTORE_TARGET_TIME=2001-01-01 00:00:00+00",
        &format!("is not after the end of backup {label}"),
    );
    refused(
        "bk-none-3",
        "AZA_RESTORE_SET=20010101-000000F",
        "is not a backup of stanza main; the repository has",
    );
    // After everything archived: a time a day ahead is past the end of the archive.
    first.psql_ok("CREATE TABLE t (x text); INSERT INTO t VALUES ('A')");
    archive_everything(&first);
    let tomorrow = first.psql_ok("SELECT (now() + interval '1 day')::text");
    refused(
        "bk-none-4",
        &format!("AZA_RESTORE_TARGET_TIME={tomorrow}"),
        "recovery ended before configured recovery target was reached",
    );
}

#[test]
fn a_restore_killed_midway_is_started_again_from_scratch() {
    if !engine_or_skip("a_restore_killed_midway_is_started_again_from_scratch") {
        return;
    }
    let repo = Volume::create("bk-kill-repo");
    let first = primary("bk-kill", &repo, &[]);
    backup(&first, "full");
    first.psql_ok("CREATE TABLE t (x text); INSERT INTO t VALUES ('A')");
    archive_everything(&first);

    // recovery_min_apply_delay holds the recovery at A's commit (PostgreSQL honours it in archive
    // recovery too), so the kill lands in the restore's recovery, deterministically.
    let data = Volume::create("bk-kill-data");
    let held = restore_start(
        "bk-kill-1",
        &repo,
        &data,
        &["AZA_RESTORE_SET=latest"],
        &["-c", "recovery_min_apply_delay=1h"],
    );
    wait_logged(&held, "[RESTORE] recovering in a temporary server", 60);
    std::thread::sleep(Duration::from_secs(2));
    support::docker::docker(&["kill", "--signal", "KILL", &held.name]);
    assert!(
        data.listing().lines().any(|l| l == "18/docker/.aza-initdb"),
        "the killed restore left no staging directory:\n{}",
        data.listing()
    );
    assert!(!data.listing().lines().any(|l| l == "18/docker/PG_VERSION"));

    let again = restore_start("bk-kill-2", &repo, &data, &["AZA_RESTORE_SET=latest"], &[]);
    again.wait_healthy(Duration::from_secs(90));
    let log = again.logs();
    assert!(
        log.contains("holds an initialisation that did not finish; starting it again from scratch")
            && log.contains("[RESTORE] restore complete"),
        "{}",
        again.context()
    );
    assert_eq!(rows(&again), "A");
}

/// An SFTP repository host from Debian's openssh-server: the user `pgbackrest` logs in with `key`;
/// `known_hosts` lists the host's keys under its name on the network.
struct SftpRepository {
    host: Container,
    keys: tempfile::TempDir,
}

impl SftpRepository {
    fn start(network: &Network) -> SftpRepository {
        let image = package_image("sftp", &["openssh-server"], None);
        let keys = support::docker::shared_dir();
        let key = keys.path().join("key");
        let made = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .expect("ssh-keygen (Debian's openssh-client)");
        assert!(made.success(), "ssh-keygen failed");
        // The image's postgres user reads the key; a throwaway directory, so 0644 is fine here.
        for name in ["key", "key.pub"] {
            let path = keys.path().join(name);
            let contents = std::fs::read_to_string(&path).expect("key");
            write_readable(keys.path(), name, &contents);
        }
        let keys_mount = format!("{}:/keys:ro", keys.path().display());
        let network_option = format!("--network={}", network.name);
        let host = Container::start_image(
            "bk-sftp",
            &image,
            &[&network_option, "--network-alias", "repo", "-v", &keys_mount],
            &[
                "sh",
                "-c",
                "useradd -m -s /bin/sh pgbackrest && mkdir -p /home/pgbackrest/.ssh /var/lib/pgbackrest \
                 && cp /keys/key.pub /home/pgbackrest/.ssh/authorized_keys \
                 && chown -R pgbackrest: /home/pgbackrest/.ssh /var/lib/pgbackrest \
                 && chmod 700 /home/pgbackrest/.ssh && mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e",
            ],
        );
        wait_logged(&host, "Server listening", 30);
        let host_keys = host
            .exec_as(
                "root",
                &["sh", "-c", "for k in /etc/ssh/ssh_host_*_key.pub; do echo \"repo $(cut -d' ' -f1,2 \"$k\")\"; done"],
            )
            .expect("the host's keys");
        write_readable(keys.path(), "known_hosts", &host_keys);
        SftpRepository { host, keys }
    }

    /// The options that make repository 1 this host.
    fn options(&self) -> Vec<String> {
        let keys_mount = format!("{}:/keys:ro", self.keys.path().display());
        [
            "PGBACKREST_REPO1_TYPE=sftp",
            "PGBACKREST_REPO1_SFTP_HOST=repo",
            "PGBACKREST_REPO1_SFTP_HOST_USER=pgbackrest",
            "PGBACKREST_REPO1_SFTP_PRIVATE_KEY_FILE=/keys/key",
            "PGBACKREST_REPO1_SFTP_KNOWN_HOST=/keys/known_hosts",
            "PGBACKREST_REPO1_SFTP_HOST_KEY_HASH_TYPE=sha256",
            "PGBACKREST_REPO1_PATH=/var/lib/pgbackrest",
        ]
        .iter()
        .flat_map(|v| ["-e".to_string(), v.to_string()])
        .chain(["-v".to_string(), keys_mount])
        .collect()
    }
}

fn archiver(container: &Container) -> (u64, u64, String) {
    let answer = container.psql_ok(
        "SELECT archived_count || '|' || failed_count || '|' || coalesce(last_archived_wal, '') FROM pg_stat_archiver",
    );
    let mut parts = answer.split('|');
    let archived = parts
        .next()
        .and_then(|p| p.parse().ok())
        .expect("archived_count");
    let failed = parts
        .next()
        .and_then(|p| p.parse().ok())
        .expect("failed_count");
    (archived, failed, parts.next().unwrap_or("").to_string())
}

fn ready_segments(container: &Container) -> Vec<String> {
    let listing = container
        .exec_as(
            "postgres",
            &["ls", &format!("{PGDATA}/pg_wal/archive_status")],
        )
        .expect("archive_status");
    listing
        .lines()
        .filter_map(|l| l.strip_suffix(".ready"))
        .map(str::to_string)
        .collect()
}

#[test]
fn an_unreachable_sftp_repository_keeps_the_wal_and_archiving_catches_up() {
    if !engine_or_skip("an_unreachable_sftp_repository_keeps_the_wal_and_archiving_catches_up") {
        return;
    }
    let network = Network::create("bk-net");
    let sftp = SftpRepository::start(&network);
    let network_option = format!("--network={}", network.name);
    let mut options: Vec<String> =
        vec![network_option, "-e".into(), "PGBACKREST_STANZA=main".into()];
    options.extend(sftp.options());
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let server = Container::start("bk-sftp-pg", &options, &[]);
    server.wait_healthy(Duration::from_secs(60));
    backup(&server, "full");
    archive_everything(&server);

    support::docker::docker(&["network", "disconnect", &network.name, &sftp.host.name]);
    server.psql_ok("CREATE TABLE w (x int)");
    let mut switched = Vec::new();
    for _ in 0..3 {
        server.psql_ok("INSERT INTO w SELECT generate_series(1, 1000)");
        switched.push(server.psql_ok("SELECT pg_walfile_name(pg_switch_wal())"));
    }
    let (_, failed_before, _) = wait_for(
        "archiving failures counted",
        Duration::from_secs(30),
        || match archiver(&server) {
            (a, f, last) if f > 0 => Ok((a, f, last)),
            other => Err(format!("{other:?}")),
        },
        || server.context(),
    );
    // The server runs on, and keeps every segment it could not archive.
    assert_eq!(server.psql_ok("SELECT 1"), "1");
    let waiting = ready_segments(&server);
    for segment in &switched {
        assert!(
            waiting.contains(segment),
            "{segment} not kept for archiving: {waiting:?}"
        );
        server
            .exec_as(
                "postgres",
                &["test", "-f", &format!("{PGDATA}/pg_wal/{segment}")],
            )
            .unwrap_or_else(|e| panic!("{segment} was recycled: {e}"));
    }

    let network_alias = [
        "network",
        "connect",
        "--alias",
        "repo",
        &network.name,
        &sftp.host.name,
    ];
    support::docker::docker(&network_alias);
    // PostgreSQL's archiver waits a minute after three failures in a row.
    let last = switched.last().expect("three segments").clone();
    wait_for(
        "archiving caught up",
        Duration::from_secs(150),
        || match (archiver(&server), ready_segments(&server)) {
            ((_, _, archived), ready) if archived >= last && ready.is_empty() => Ok(()),
            (state, ready) => Err(format!("{state:?}, waiting: {ready:?}")),
        },
        || server.context(),
    );
    let (_, failed_after, _) = archiver(&server);
    assert!(failed_after >= failed_before);
    // Every segment is in the repository: pgBackRest's own check passes.
    server
        .exec_as("postgres", &["pgbackrest", "--stanza=main", "check"])
        .unwrap_or_else(|e| panic!("pgbackrest check after the outage: {e}"));
}

#[test]
fn a_replica_promoted_after_the_primarys_loss_goes_on_archiving_to_the_same_stanza() {
    if !engine_or_skip(
        "a_replica_promoted_after_the_primarys_loss_goes_on_archiving_to_the_same_stanza",
    ) {
        return;
    }
    let network = Network::create("bk-ha-net");
    let repo = Volume::create("bk-ha-repo");
    let network_option = format!("--network={}", network.name);
    let replication = "PG_REPLICATION_PASSWORD=repl-secret";
    let first = primary(
        "bk-ha-primary",
        &repo,
        &[&network_option, "--network-alias", "db", "-e", replication],
    );
    backup(&first, "full");
    first.psql_ok("CREATE TABLE t (x text); INSERT INTO t VALUES ('A')");

    let repo_mount = repo.mount(REPO);
    let replica = Container::start(
        "bk-ha-replica",
        &[
            &network_option,
            "-e",
            "POSTGRES_ROLE=replica",
            "-e",
            "PRIMARY_HOST=db",
            "-e",
            replication,
            "-e",
            "PGBACKREST_STANZA=main",
            "-e",
            "POSTGRES_MEMORY=1g",
            "-v",
            &repo_mount,
        ],
        &[],
    );
    replica.wait_healthy(Duration::from_secs(90));
    wait_for(
        "A on the replica",
        Duration::from_secs(30),
        || match replica.psql("SELECT string_agg(x, ',') FROM t") {
            Ok(rows) if rows == "A" => Ok(()),
            other => Err(format!("{other:?}")),
        },
        || replica.context(),
    );

    support::docker::docker(&["kill", "--signal", "KILL", &first.name]);
    replica.psql_ok("SELECT pg_promote()");
    wait_for(
        "the replica promoted",
        Duration::from_secs(30),
        || match replica.psql("SELECT pg_is_in_recovery()") {
            Ok(answer) if answer == "f" => Ok(()),
            other => Err(format!("{other:?}")),
        },
        || replica.context(),
    );
    replica.psql_ok("INSERT INTO t VALUES ('B')");
    archive_everything(&replica);
    let (_, _, last) = archiver(&replica);
    assert!(
        last.starts_with("00000002"),
        "the promoted replica archived {last}, not on its new timeline 2"
    );
    replica
        .exec_as("postgres", &["pgbackrest", "--stanza=main", "check"])
        .unwrap_or_else(|e| panic!("pgbackrest check on the promoted replica: {e}"));
    // And it can be backed up into the same stanza: the restore then has B.
    backup(&replica, "full");
    let data = Volume::create("bk-ha-data");
    let restored = restore_start(
        "bk-ha-restored",
        &repo,
        &data,
        &["AZA_RESTORE_SET=latest"],
        &["-c", "archive_mode=off"],
    );
    restored.wait_healthy(Duration::from_secs(90));
    assert_eq!(rows(&restored), "A,B");
}

/// Listed in tests/secrets.txt: no log may show it.
const CIPHER_PASS: &str = "c1pher:r3po\\p@ss";

#[test]
fn the_backup_sidecar_takes_a_first_full_backup_then_runs_its_schedule_with_cron() {
    if !engine_or_skip(
        "the_backup_sidecar_takes_a_first_full_backup_then_runs_its_schedule_with_cron",
    ) {
        return;
    }
    assert!(support::server::is_listed_for_the_leak_check(CIPHER_PASS));
    let repo = Volume::create("bk-cron-repo");
    let data = Volume::create("bk-cron-data");
    let socket = Volume::create("bk-cron-socket");
    let data_mount = data.mount("/var/lib/postgresql");
    let socket_mount = socket.mount("/var/run/postgresql");
    // An encrypted repository whose passphrase both containers read from a secret file: the
    // server's archive_command and cron's jobs (which start with an empty environment) get it
    // through pgBackRest's configuration file.
    let secrets = support::docker::shared_dir();
    write_readable(secrets.path(), "cipher", &format!("{CIPHER_PASS}\n"));
    let secret_mount = format!("{}:/run/secrets:ro", secrets.path().display());
    let cipher = [
        "-e",
        "PGBACKREST_REPO1_CIPHER_TYPE=aes-256-cbc",
        "-e",
        "PGBACKREST_REPO1_CIPHER_PASS_FILE=/run/secrets/cipher",
        "-v",
        secret_mount.as_str(),
    ];
    let mut server_options = vec!["-v", data_mount.as_str(), "-v", socket_mount.as_str()];
    server_options.extend_from_slice(&cipher);
    let server = primary("bk-cron-pg", &repo, &server_options);
    let repo_mount = repo.mount(REPO);
    let mut sidecar_options = vec![
        "--entrypoint",
        "/usr/local/bin/aza-backup",
        "-e",
        "PGBACKREST_STANZA=main",
        "-e",
        "AZA_BACKUP_INCR_SCHEDULE=* * * * *",
        "-v",
        data_mount.as_str(),
        "-v",
        socket_mount.as_str(),
        "-v",
        repo_mount.as_str(),
    ];
    sidecar_options.extend_from_slice(&cipher);
    let sidecar = Container::start("bk-cron", &sidecar_options, &["schedule"]);
    wait_logged(
        &sidecar,
        "[BACKUP] full backup of stanza main succeeded",
        90,
    );
    // cron's every-minute job: within two minutes, an incremental backup on top of the full one.
    wait_logged(
        &sidecar,
        "[BACKUP] incr backup of stanza main succeeded",
        150,
    );
    let info = server
        .exec_as(
            "postgres",
            &["pgbackrest", "--stanza=main", "--output=json", "info"],
        )
        .expect("pgbackrest info");
    let value = info_json(&info);
    assert_eq!(value[0]["cipher"], "aes-256-cbc", "{info}");
    // The server archives into the encrypted repository with the passphrase from the file.
    archive_everything(&server);
    let kinds: Vec<&str> = value[0]["backup"]
        .as_array()
        .expect("backups")
        .iter()
        .filter_map(|b| b["type"].as_str())
        .collect();
    assert_eq!(kinds.first(), Some(&"full"), "{kinds:?}");
    assert!(kinds.contains(&"incr"), "{kinds:?}");
    let metrics = sidecar
        .exec_as(
            "root",
            &["cat", "/var/lib/aza-pg/metrics/aza-backup-incr.prom"],
        )
        .expect("the incr job's metrics");
    assert!(
        metrics.contains("aza_backup_last_run_success{stanza=\"main\",type=\"incr\"} 1\n")
            && metrics.contains(
                "aza_backup_last_success_timestamp_seconds{stanza=\"main\",type=\"incr\"} "
            ),
        "{metrics}"
    );
    // PID 1 of the sidecar ends cron on a stop, cleanly: 0, not the 137 of docker's SIGKILL after 10 s.
    support::docker::docker(&["stop", "--time", "10", &sidecar.name]);
    assert_eq!(
        sidecar.state(),
        ("exited".to_string(), 0),
        "{}",
        sidecar.context()
    );
}

#[test]
fn a_restore_whose_repository_fails_midway_through_recovery_commits_nothing() {
    if !engine_or_skip("a_restore_whose_repository_fails_midway_through_recovery_commits_nothing") {
        return;
    }
    let network = Network::create("bk-mid-net");
    let sftp = SftpRepository::start(&network);
    let network_option = format!("--network={}", network.name);
    let mut options: Vec<String> = vec![
        network_option.clone(),
        "-e".into(),
        "PGBACKREST_STANZA=main".into(),
    ];
    options.extend(sftp.options());
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let server = Container::start("bk-mid-pg", &options, &[]);
    server.wait_healthy(Duration::from_secs(60));
    backup(&server, "full");
    // A commit the restore will hold at (recovery_min_apply_delay), then two more archived segments
    // it must fetch afterwards.
    server.psql_ok("CREATE TABLE t (x text); INSERT INTO t VALUES ('A')");
    let held_in = archive_everything(&server);
    for row in ["B", "C", "D"] {
        server.psql_ok(&format!("INSERT INTO t VALUES ('{row}')"));
        archive_everything(&server);
    }

    let data = Volume::create("bk-mid-data");
    let data_mount = data.mount("/var/lib/postgresql");
    let mut restore_options = options.clone();
    restore_options.extend(["-v", &data_mount, "-e", "AZA_RESTORE_SET=latest"]);
    let restoring = Container::start(
        "bk-mid-restore",
        &restore_options,
        &[
            "postgres",
            "-c",
            "recovery_min_apply_delay=40s",
            "-c",
            "recovery_prefetch=off",
            "-c",
            "archive_mode=off",
        ],
    );
    // Recovery has fetched A's segment and waits at A's commit (no read-ahead into the next one).
    let fetched = format!("restored log file \"{held_in}\" from archive");
    wait_logged(&restoring, &fetched, 60);
    // The repository goes while recovery waits at A: the next segments cannot be fetched, and
    // PostgreSQL would end recovery there as if the archive ended.
    support::docker::docker(&["network", "disconnect", &network.name, &sftp.host.name]);
    let code = restoring.wait_exited(Duration::from_secs(180));
    let log = restoring.logs();
    assert_eq!(code, 1, "{}", restoring.context());
    assert!(
        log.contains("the repository failed during recovery"),
        "{}",
        restoring.context()
    );
    let listing = data.listing();
    assert!(
        !listing.lines().any(|l| l == "18/docker/PG_VERSION"),
        "a partly recovered cluster was committed:\n{listing}"
    );
}
