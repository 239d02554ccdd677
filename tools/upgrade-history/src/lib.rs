//! `switchboard-upgrade-history`: copies a deployed stack's history from the first data
//! model's tables (`{stack}-events`, `{stack}-deliveries`) into the current ones
//! (`{stack}-events-v2`, `{stack}-deliveries-v2`) with the AWS credentials of the shell.
//! Resumable from its progress file, idempotent, rate-limited (infra/README.md, Upgrading
//! a deployed stack).

use std::path::{Path, PathBuf};
use switchboard_core::adapters::aws::history_upgrade::{
    HistoryUpgrade, Progress, UpgradeLimits, UpgradeTables,
};

#[derive(clap::Args, Debug, Clone)]
pub struct UpgradeHistoryArgs {
    /// The CloudFormation stack name: the tables are `{stack}-events`, `{stack}-deliveries`
    /// (read) and `{stack}-events-v2`, `{stack}-deliveries-v2` (written).
    #[arg(long)]
    pub stack_name: String,
    /// Where the progress is kept after every page; a run finding it resumes from it
    /// [default: upgrade-history-{stack}.json in the current directory].
    #[arg(long)]
    pub progress: Option<PathBuf>,
    /// Most items written per second (each is one write of an item and its indexes).
    #[arg(long, default_value_t = 100.0, value_parser = positive)]
    pub max_writes_per_second: f64,
    /// Items read per scan page.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub page_size: i32,
    /// Override a table name (old events table).
    #[arg(long)]
    pub old_events_table: Option<String>,
    /// Override a table name (old deliveries table).
    #[arg(long)]
    pub old_deliveries_table: Option<String>,
    /// Override a table name (new events table).
    #[arg(long)]
    pub events_table: Option<String>,
    /// Override a table name (new deliveries table).
    #[arg(long)]
    pub deliveries_table: Option<String>,
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number")),
    }
}

impl UpgradeHistoryArgs {
    pub fn tables(&self) -> UpgradeTables {
        let name = |given: &Option<String>, suffix: &str| {
            (given.clone()).unwrap_or_else(|| format!("{}-{suffix}", self.stack_name))
        };
        UpgradeTables {
            old_events: name(&self.old_events_table, "events"),
            old_deliveries: name(&self.old_deliveries_table, "deliveries"),
            events: name(&self.events_table, "events-v2"),
            deliveries: name(&self.deliveries_table, "deliveries-v2"),
        }
    }

    pub fn progress_path(&self) -> PathBuf {
        self.progress
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("upgrade-history-{}.json", self.stack_name)))
    }
}

/// The progress saved at `path`, or a fresh one when there is none.
pub fn load_progress(path: &Path) -> Result<Progress, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}: not a progress file: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Progress::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes the progress whole or not at all (a new file renamed over the old one), so a
/// crash mid-save leaves the previous page's progress.
pub fn save_progress(path: &Path, progress: &Progress) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(progress).map_err(std::io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, path)
}

/// Runs the copy with `client`; prints the progress file and the counts. Returns the exit
/// code (0 done; 2 an error, the progress saved so far resumes it).
pub async fn run(client: aws_sdk_dynamodb::Client, args: &UpgradeHistoryArgs) -> u8 {
    let path = args.progress_path();
    let mut progress = match load_progress(&path) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let tables = args.tables();
    eprintln!(
        "copying {} → {} and {} → {} at most {} writes/s; progress in {}",
        tables.old_events,
        tables.events,
        tables.old_deliveries,
        tables.deliveries,
        args.max_writes_per_second,
        path.display()
    );
    let upgrade = HistoryUpgrade::new(
        client,
        tables,
        UpgradeLimits {
            max_writes_per_second: args.max_writes_per_second,
            page_size: args.page_size,
        },
    );
    let mut save = |p: &Progress| save_progress(&path, p);
    let result = upgrade.run(&mut progress, &mut save).await;
    for (name, t) in [
        ("events", &progress.events),
        ("deliveries", &progress.deliveries),
    ] {
        println!(
            "{name}: {} scanned, {} copied, {} already there, {} expired{}",
            t.scanned,
            t.copied,
            t.present,
            t.expired,
            if t.done { "" } else { " (not finished)" }
        );
    }
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e} (run the same command again to resume)");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_saved_whole_and_read_back() {
        let dir = std::env::temp_dir().join(format!(
            "switchboard-upgrade-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("progress.json");
        assert_eq!(load_progress(&path).unwrap(), Progress::default());
        let mut p = Progress::default();
        p.events.done = true;
        p.events.copied = 7;
        p.deliveries.cursor = Some([("event_id".to_owned(), "evt_1".to_owned())].into());
        save_progress(&path, &p).unwrap();
        assert_eq!(load_progress(&path).unwrap(), p);
        std::fs::write(&path, "not json").unwrap();
        assert!(load_progress(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
