//! Rendering a plan for people and programs: the `--dry-run` formats and the start-up log lines.

use serde_json::{json, Map, Value};

use crate::plan::Plan;

/// The `--format` choices of `--dry-run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Conf,
    Args,
    /// Patroni's configuration of this node (`POSTGRES_ROLE=ha`), passwords redacted.
    Patroni,
    /// The network rules a start writes (`PGDATA/aza-hba.conf`); not for an HA node.
    Hba,
}

impl Format {
    pub const ACCEPTED: &'static str = "table, json, conf, args, patroni, hba";

    pub fn parse(value: &str) -> Option<Format> {
        match value {
            "table" => Some(Format::Table),
            "json" => Some(Format::Json),
            "conf" => Some(Format::Conf),
            "args" => Some(Format::Args),
            "patroni" => Some(Format::Patroni),
            "hba" => Some(Format::Hba),
            _ => None,
        }
    }
}

pub fn render(plan: &Plan, format: Format) -> String {
    match format {
        Format::Table => table(plan),
        Format::Json => json(plan),
        Format::Conf => conf(plan),
        Format::Args => plan
            .server_args()
            .iter()
            .map(|arg| format!("{arg}\n"))
            .collect(),
        // Rendered from the node's HA settings and the network rules, which the plan does not hold
        // (see `runtime::patroni`, `tls::network_rules`).
        Format::Patroni | Format::Hba => String::new(),
    }
}

/// A readable table of the inputs and of every setting with its reason.
pub fn table(plan: &Plan) -> String {
    let r = &plan.resources;
    let mut out =
        String::from("aza-entrypoint dry run: nothing was started or changed\n\nInputs\n");
    let memory_from = match r.memory_source.as_str() {
        "manual" | "default" => r.memory_source.to_string(),
        source => format!("{source}: {}", r.memory_origin),
    };
    let rows = [
        ("memory", format!("{} MB", r.memory_mb), memory_from),
        ("cpus", r.cpus.to_string(), r.cpu_source.to_string()),
        (
            "workload",
            plan.workload.0.to_string(),
            plan.workload.1.as_str().to_string(),
        ),
        (
            "storage",
            plan.storage.0.to_string(),
            plan.storage.1.as_str().to_string(),
        ),
        match &plan.image.catalog {
            Some(_) => (
                "image",
                "catalog".to_string(),
                plan.image.path.display().to_string(),
            ),
            None => (
                "image",
                "no catalog".to_string(),
                format!(
                    "{} does not exist: not running in a built image, so the defaults compiled from \
                     the manifest apply",
                    plan.image.path.display()
                ),
            ),
        },
    ];
    for (name, value, source) in rows {
        out.push_str(&format!("  {name:<10} {value:<10} {source}\n"));
    }

    let width = plan
        .settings
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(0);
    let value_width = plan
        .settings
        .iter()
        .map(|s| shown_value(s).len())
        .max()
        .unwrap_or(0)
        .min(40);
    out.push_str("\nSettings\n");
    for s in &plan.settings {
        let reason = match &s.overridden_by {
            Some(o) => format!("set by {} (computed {})", o.source.as_str(), s.value),
            None => s.reason.clone(),
        };
        out.push_str(&format!(
            "  {:<width$}  {:<value_width$}  {reason}\n",
            s.name,
            shown_value(s)
        ));
    }
    out.push_str(&budget_table(plan));
    if !plan.warnings.is_empty() {
        out.push_str("\nWarnings\n");
        for warning in &plan.warnings {
            out.push_str(&format!("  - {warning}\n"));
        }
    }
    for notice in &plan.notices {
        out.push_str(&format!("\n{notice}\n"));
    }
    out
}

/// The worst case of the computed settings against the limit, one row per term.
fn budget_rows(plan: &Plan) -> Vec<(&'static str, u64, String)> {
    let b = &plan.tuning.budget;
    let t = &plan.tuning;
    vec![
        ("shared_buffers", b.shared_buffers_mb, String::new()),
        ("wal_buffers", b.wal_buffers_mb, String::new()),
        (
            "other shared memory",
            b.shared_other_mb,
            "lock tables, PGPROC, statistics".to_string(),
        ),
        (
            "server processes",
            b.server_processes_mb,
            "postmaster and auxiliary processes".to_string(),
        ),
        (
            "preloaded libraries",
            b.preload_shared_mb,
            "their shared memory at its defaults (manifest)".to_string(),
        ),
        (
            "connections",
            b.connections_mb,
            format!(
                "{} x {} kB (backend + page tables)",
                t.max_connections, b.per_connection_kb
            ),
        ),
        (
            "temp buffers",
            b.temp_buffers_mb,
            format!(
                "{} x {} MB temp_buffers",
                t.max_connections, t.temp_buffers_mb
            ),
        ),
        (
            "queries",
            b.queries_mb,
            format!(
                "{} x {} x {} MB work_mem (sort + hash at hash_mem_multiplier {} + executor)",
                t.max_connections,
                crate::tuning::query_work_mem_factor(),
                t.work_mem_mb,
                crate::tuning::HASH_MEM_MULTIPLIER
            ),
        ),
        (
            "parallel workers",
            b.parallel_workers_mb,
            format!("{} x (backend + queries)", t.max_parallel_workers),
        ),
        (
            "jit",
            b.jit_mb,
            format!(
                "(connections + parallel workers) x {} MB of LLVM when jit is on",
                crate::tuning::JIT_BACKEND_KB / 1024
            ),
        ),
        (
            "autovacuum",
            b.autovacuum_mb,
            format!(
                "{} workers x ({} MB autovacuum_work_mem + backend)",
                crate::tuning::AUTOVACUUM_MAX_WORKERS,
                t.autovacuum_work_mem_mb
            ),
        ),
        (
            "logical decoding",
            b.logical_decoding_mb,
            format!(
                "{} sessions x {} MB logical_decoding_work_mem (wal_level=logical only)",
                crate::tuning::LOGICAL_DECODING_SESSIONS,
                t.logical_decoding_work_mem_mb
            ),
        ),
        (
            "maintenance",
            b.maintenance_mb,
            "one CREATE INDEX / VACUUM at maintenance_work_mem".to_string(),
        ),
    ]
}

fn budget_table(plan: &Plan) -> String {
    let b = &plan.tuning.budget;
    let mut out = String::from("\nMemory budget (worst case)\n");
    for (name, mb, note) in budget_rows(plan) {
        out.push_str(&format!("  {name:<20} {:>8}  {note}\n", format!("{mb} MB")));
    }
    out.push_str(&format!(
        "  {:<20} {:>8}  of {} MB allowed ({} MB limit - {} MB margin): {}\n",
        "total",
        format!("{} MB", b.total_mb),
        b.allowed_mb(),
        b.limit_mb,
        b.margin_mb,
        if b.fits { "fits" } else { "DOES NOT FIT" }
    ));
    out
}

fn budget_json(plan: &Plan) -> Value {
    let b = &plan.tuning.budget;
    // Each reduced setting with the formula's value it started from.
    let reduced: Map<String, Value> = crate::tuning::Knob::ALL
        .iter()
        .filter_map(|&knob| Some((knob.name().to_string(), json!(b.reduced.from(knob)?))))
        .collect();
    let terms: Map<String, Value> = budget_rows(plan)
        .into_iter()
        .map(|(name, mb, _)| (name.replace(' ', "_") + "_mb", json!(mb)))
        .collect();
    json!({
        "limit_mb": b.limit_mb,
        "margin_mb": b.margin_mb,
        "allowed_mb": b.allowed_mb(),
        "terms": terms,
        "total_mb": b.total_mb,
        "fits": b.fits,
        "per_connection_kb": b.per_connection_kb,
        "reduced": reduced,
    })
}

fn shown_value(setting: &crate::plan::Setting) -> &str {
    match &setting.overridden_by {
        Some(o) => &o.value,
        None => &setting.value,
    }
}

/// The machine-readable preview: inputs, the exact values passed, the argv and the warnings.
pub fn json(plan: &Plan) -> String {
    let r = &plan.resources;
    let settings: Map<String, Value> = plan
        .applied()
        .map(|s| (s.name.to_string(), Value::String(s.value.clone())))
        .collect();
    let overridden: Vec<Value> = plan
        .overridden()
        .filter_map(|s| {
            let by = s.overridden_by.as_ref()?;
            Some(json!({"name": s.name, "computed": s.value, "value": by.value, "by": by.source.as_str()}))
        })
        .collect();
    let document = json!({
        "inputs": {
            "memory_mb": r.memory_mb,
            "memory_source": r.memory_source.as_str(),
            "memory_origin": r.memory_origin,
            "cpus": r.cpus,
            "cpu_source": r.cpu_source.as_str(),
            "workload": plan.workload.0.as_str(),
            "storage": plan.storage.0.as_str(),
            "shm_mb": r.shm_mb,
            "wal_free_mb": r.wal_free_mb,
            "image_catalog": {
                "path": plan.image.path.display().to_string(),
                "present": plan.image.catalog.is_some(),
            },
            "shared_preload_libraries_source": plan.preload_libraries_source(),
        },
        "settings": settings,
        "overridden": overridden,
        "args": plan.server_args(),
        "settings_in": match plan.delivery {
            crate::plan::Delivery::File => crate::plan::tuning_file::FILE_NAME,
            crate::plan::Delivery::CommandLine => "command line",
        },
        "budget": budget_json(plan),
        "warnings": plan.warnings,
    });
    // Serialising a Value built above cannot fail; fall back to an empty object rather than panic.
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_else(|_| "{}".to_string());
    text.push('\n');
    text
}

/// `postgresql.conf` lines for the computed settings that apply; overridden ones are commented out.
pub fn conf(plan: &Plan) -> String {
    crate::plan::tuning_file::render(plan)
}

/// Log lines for overridden settings, one each, so the log says who won.
pub fn override_lines(plan: &Plan) -> Vec<String> {
    plan.overridden()
        .filter_map(|s| {
            let by = s.overridden_by.as_ref()?;
            Some(format!(
                "[POSTGRES] [AUTO-CONFIG] {} set by {} to {} (computed {} not applied)",
                s.name,
                by.source.as_str(),
                by.value,
                s.value
            ))
        })
        .collect()
}
