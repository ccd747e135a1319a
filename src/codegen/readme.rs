//! The README's auto-tuning table: settings the real [`crate::tuning::compute`] gives for a range of
//! memory sizes, spliced between markers so the rest of the README stays hand-written.

use crate::tuning::{self, Inputs, Storage, Workload};

use super::generated_notice;

pub const TUNING_START: &str = "<!-- tuning-table:start -->";
pub const TUNING_END: &str = "<!-- tuning-table:end -->";
const SECTION: &str = "## Auto-tuning";

/// Memory sizes shown, in MB.
const TIERS_MB: &[u64] = &[512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
/// CPUs used for the table; none of its columns depends on the CPU count.
const TABLE_CPUS: u32 = 2;

fn human_mb(mb: u64) -> String {
    if mb >= 1024 && mb % 1024 == 0 {
        format!("{} GB", mb / 1024)
    } else {
        format!("{mb} MB")
    }
}

/// The block between the markers (markers included).
pub fn render_tuning_table() -> String {
    let mut out = String::new();
    out.push_str(TUNING_START);
    out.push('\n');
    out.push_str(&format!("<!-- {} -->\n", generated_notice()));
    out.push_str(
        "| Memory | shared_buffers | effective_cache_size | work_mem | maintenance_work_mem | max_connections |\n",
    );
    out.push_str("|---:|---:|---:|---:|---:|---:|\n");
    let defaults: Vec<String> = crate::generated::defaults::DEFAULT_SHARED_PRELOAD_LIBRARIES
        .iter()
        .map(|lib| lib.to_string())
        .collect();
    for &memory_mb in TIERS_MB {
        let settings = tuning::compute(&Inputs {
            memory_mb,
            cpus: TABLE_CPUS,
            workload: Workload::Web,
            storage: Storage::Ssd,
            max_worker_processes: None,
            shm_mb: None,
            wal_free_mb: None,
            pinned: Default::default(),
            primary_requires: Default::default(),
            preload_shared_mb: crate::plan::preload_shared_mb(&defaults)
                + crate::plan::pg_stat_monitor_max_mb(memory_mb),
            wal_level: tuning::WalLevel::Logical,
            jit_provider: true,
        });
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            human_mb(memory_mb),
            human_mb(settings.shared_buffers_mb),
            human_mb(settings.effective_cache_size_mb),
            human_mb(settings.work_mem_mb),
            human_mb(settings.maintenance_work_mem_mb),
            settings.max_connections,
        ));
    }
    out.push_str(&format!(
        "\nDefault `web` workload on `ssd` storage with {TABLE_CPUS} CPUs and the default preload list \
         (`wal_level=logical`), computed by `aza_pg::tuning::compute` after the memory budget. \
         `max_connections` does not depend on the CPU count; more CPUs mean more parallel workers, which \
         the budget fits into what is left. Other workloads (`POSTGRES_WORKLOAD_TYPE`) change \
         connections, memory per query and what the budget gives up first. \
         `aza-entrypoint --dry-run` shows the exact settings for a given container.\n"
    ));
    out.push_str(TUNING_END);
    out
}

/// Puts `block` between the markers of `readme`. Without markers, the block goes at the end of the
/// "## Auto-tuning" section, or in a new such section at the end of the file.
pub fn splice_tuning_table(readme: &str, block: &str) -> String {
    if let (Some(start), Some(end)) = (readme.find(TUNING_START), readme.find(TUNING_END)) {
        if start < end {
            let after = end + TUNING_END.len();
            return format!("{}{block}{}", &readme[..start], &readme[after..]);
        }
    }
    let section_start = readme
        .match_indices(SECTION)
        .find(|(index, _)| {
            (*index == 0 || readme[..*index].ends_with('\n'))
                && readme[index + SECTION.len()..].starts_with(['\n', '\r'])
        })
        .map(|(index, _)| index);
    match section_start {
        Some(index) => {
            let body = index + SECTION.len();
            // The section ends where the next heading of level 1 or 2 starts.
            let next = readme[body..]
                .match_indices("\n#")
                .find(|(i, _)| {
                    let rest = &readme[body + i + 1..];
                    rest.starts_with("# ") || rest.starts_with("## ")
                })
                .map_or(readme.len(), |(i, _)| body + i + 1);
            let before = readme[..next].trim_end_matches('\n');
            let after = &readme[next..];
            let separator = if after.is_empty() { "\n" } else { "\n\n" };
            format!("{before}\n\n{block}{separator}{after}")
        }
        None => {
            let before = readme.trim_end_matches('\n');
            let gap = if before.is_empty() { "" } else { "\n\n" };
            format!("{before}{gap}{SECTION}\n\n{block}\n")
        }
    }
}
