//! The entrypoint's own log lines, in the `[POSTGRES]`-prefixed shape existing log scrapers know.
//! Errors and warnings go to stderr, the configuration summary to stdout.

use crate::plan::Plan;
use crate::report;

pub fn error(message: &str) {
    for line in message.lines() {
        eprintln!("[POSTGRES] ERROR: {line}");
    }
}

pub fn warning(message: &str) {
    eprintln!("[POSTGRES] WARNING: {message}");
}

pub fn info(message: &str) {
    println!("[POSTGRES] {message}");
}

/// Everything a start logs about its tuning: warnings, notices, the summary and any overrides.
pub fn plan(plan: &Plan) {
    for warning_text in &plan.warnings {
        warning(warning_text);
    }
    for notice in &plan.notices {
        info(&format!("[AUTO-CONFIG] {notice}"));
    }
    let listen = plan
        .settings
        .iter()
        .find(|s| s.name == "listen_addresses")
        .map(|s| s.value.as_str());
    match listen {
        Some("127.0.0.1") => {
            info("[AUTO-CONFIG] Secure mode (localhost only) \u{2192} listen_addresses=127.0.0.1")
        }
        Some(addresses) => info(&format!(
            "[AUTO-CONFIG] Network mode enabled \u{2192} listen_addresses={addresses}"
        )),
        None => {}
    }
    println!("{}", plan.summary_line());
    for line in report::override_lines(plan) {
        println!("{line}");
    }
}
