//! `switchboard dead-letters list|show|redrive`: what the events queue gave up on, and
//! sending it back.

use super::client::{decode, CliError, CliResult, Client};
use super::listing::{fetch, print_page, Listed, Paging};
use super::output::{details, opt, print_json, time};
use super::progress::Progress;
use super::Global;
use clap::Subcommand;
use serde_json::{json, Value};
use switchboard_core::api::dead_letters::{DeadLetterView, RedriveReport, MAX_REDRIVE};
use switchboard_core::ports::Page;

/// Messages per redrive call: small enough for steady progress lines.
const BATCH: usize = 10;

#[derive(Subcommand)]
pub enum DeadLettersCmd {
    /// List dead letters, oldest first (on AWS: one page of up to --limit).
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// One dead letter in full, its body included.
    Show {
        /// The message id from the list.
        id: String,
    },
    /// Send dead letters back to the events queue (progress on stderr).
    Redrive {
        /// Message ids from the list.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<String>,
        /// Every dead letter.
        #[arg(long)]
        all: bool,
    },
}

impl Listed for DeadLetterView {
    const HEADERS: &'static [&'static str] = &[
        "MESSAGE",
        "DEAD SINCE",
        "RECEIVES",
        "KIND",
        "EVENT",
        "TYPE / SUBSCRIPTION",
        "REASON",
    ];

    fn row(&self) -> Vec<String> {
        vec![
            self.message_id.clone(),
            self.dead_at.as_ref().map(time).unwrap_or_default(),
            self.receive_count.to_string(),
            opt(self.kind.clone()),
            opt(self.event_id.clone()),
            opt(self
                .event_type
                .clone()
                .or_else(|| self.subscription_id.clone())),
            opt(self.reason.clone()),
        ]
    }
}

pub async fn run(g: &Global, c: &Client, cmd: DeadLettersCmd) -> CliResult<()> {
    match cmd {
        DeadLettersCmd::List { paging } => {
            let page = fetch(c, "/admin/dead-letters", Vec::new(), &paging).await?;
            print_page::<DeadLetterView>(g.json, &page)
        }
        DeadLettersCmd::Show { id } => {
            let found = all(c)
                .await?
                .into_iter()
                .find(|d| d.get("message_id").and_then(Value::as_str) == Some(id.as_str()))
                .ok_or_else(|| CliError::Api {
                    status: 404,
                    code: "not_found".into(),
                    message: format!("no dead letter with message id {id:?}"),
                })?;
            if g.json {
                print_json(&found);
            } else {
                let view: DeadLetterView = decode(&found)?;
                print!("{}", details(&view));
            }
            Ok(())
        }
        DeadLettersCmd::Redrive { ids, all: true } if ids.is_empty() => redrive_all(g, c).await,
        DeadLettersCmd::Redrive { ids, .. } => redrive_ids(g, c, ids).await,
    }
}

/// Every dead letter the API lists, as its JSON.
async fn all(c: &Client) -> CliResult<Vec<Value>> {
    let answer = fetch(
        c,
        "/admin/dead-letters",
        Vec::new(),
        &Paging::everything(1000),
    )
    .await?;
    Ok(decode::<Page<Value>>(&answer)?.items)
}

async fn redrive_call(c: &Client, body: Value) -> CliResult<RedriveReport> {
    decode(&c.post("/admin/dead-letters/redrive", &body).await?)
}

fn report(g: &Global, moved: &[String]) {
    if g.json {
        print_json(&json!({"count": moved.len(), "redriven": moved}));
    } else {
        println!("redriven {} message(s) to the events queue", moved.len());
    }
}

async fn redrive_ids(g: &Global, c: &Client, ids: Vec<String>) -> CliResult<()> {
    let progress = Progress::titled(&format!("redriving {} message(s)", ids.len()), ids.len());
    let mut moved: Vec<String> = Vec::new();
    for (i, chunk) in ids.chunks(BATCH.min(MAX_REDRIVE)).enumerate() {
        let r = redrive_call(c, json!({"ids": chunk})).await?;
        moved.extend(r.redriven);
        progress.step((i * BATCH + chunk.len()).min(ids.len()), &chunk.join(" "));
    }
    progress.finish();
    let missing: Vec<&String> = ids.iter().filter(|i| !moved.contains(i)).collect();
    if !missing.is_empty() {
        eprintln!(
            "not in the dead-letter queue (already redriven, or a wrong id): {}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    report(g, &moved);
    Ok(())
}

/// Redrives in batches until none are left, or as many as were there at the start have
/// moved (a message that fails again and is dead-lettered meanwhile waits for the next run).
async fn redrive_all(g: &Global, c: &Client) -> CliResult<()> {
    let total = all(c).await?.len();
    let progress = Progress::titled(&format!("redriving {total} message(s)"), total);
    let mut moved: Vec<String> = Vec::new();
    while moved.len() < total {
        let want = BATCH.min(total - moved.len());
        let r = redrive_call(c, json!({"all": true, "limit": want})).await?;
        if r.count == 0 {
            break;
        }
        moved.extend(r.redriven);
        progress.step(moved.len().min(total), "");
    }
    progress.finish();
    report(g, &moved);
    Ok(())
}
