//! `switchboard calls show CALL`: the call's timeline — every event in `occurred_at` order,
//! each with every subscription's outcome (`GET /admin/calls/{id}`).

use super::client::{segment, CliResult, Client};
use super::output::{print_json, table};
use super::Global;
use clap::Subcommand;
use serde_json::Value;

#[derive(Subcommand)]
pub enum CallsCmd {
    /// Everything about one call: its events and what each subscriber got.
    Show {
        /// The call id as the provider names it (the envelope's `call.id`).
        call: String,
    },
}

pub async fn run(g: &Global, c: &Client, cmd: CallsCmd) -> CliResult<()> {
    let CallsCmd::Show { call } = cmd;
    let answer = c.get(&format!("/admin/calls/{}", segment(&call))).await?;
    if g.json {
        print_json(&answer);
    } else {
        print!("{}", describe(&answer));
    }
    Ok(())
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One block per event, its deliveries as a table under it.
fn describe(answer: &Value) -> String {
    let mut out = format!("call {}\n", text(&answer["call_id"]));
    for e in answer["events"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n{}  {}  {}  (source {}, received {})\n",
            text(&e["occurred_at"]),
            text(&e["type"]),
            text(&e["id"]),
            text(&e["source"]),
            text(&e["received_at"]),
        ));
        let rows: Vec<Vec<String>> = e["deliveries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                let last = match (&d["http_status"], &d["error"]) {
                    (Value::Null, err) => text(err),
                    (status, _) => format!("HTTP {}", text(status)),
                };
                vec![
                    text(&d["subscription_id"]),
                    text(&d["status"]),
                    text(&d["attempts"]),
                    last,
                    text(&d["next_attempt_at"]),
                ]
            })
            .collect();
        if rows.is_empty() {
            out.push_str("  no deliveries (no subscription wanted it, or not dispatched yet)\n");
        } else {
            let t = table(
                &["SUBSCRIPTION", "STATUS", "ATTEMPTS", "LAST", "NEXT ATTEMPT"],
                &rows,
            );
            for line in t.lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
    }
    out
}
