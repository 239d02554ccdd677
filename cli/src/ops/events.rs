//! `switchboard events ...`: accepted events, their envelopes and the raw requests.

use super::client::{decode, segment, CliError, CliResult, Client};
use super::listing::{fetch, print_page, Listed, Paging};
use super::output::{details, opt, print_json, time};
use super::time::TimeRange;
use super::Global;
use clap::Subcommand;
use std::io::Write;
use switchboard_core::domain::{Envelope, StoredEvent};

#[derive(Subcommand)]
pub enum EventsCmd {
    /// Show one event: envelope and raw request.
    Show {
        id: String,
        /// Print only the raw body the provider sent, byte for byte.
        #[arg(long)]
        raw: bool,
    },
    /// List events of a source or of a call, newest first.
    List {
        /// Events received on one source.
        #[arg(long, required_unless_present = "call", conflicts_with = "call")]
        source: Option<String>,
        /// Events of one call, from any source.
        #[arg(long)]
        call: Option<String>,
        #[command(flatten)]
        range: TimeRange,
        #[command(flatten)]
        paging: Paging,
    },
}

impl Listed for Envelope {
    const HEADERS: &'static [&'static str] =
        &["RECEIVED", "ID", "TYPE", "SOURCE", "CALL", "PROVIDER EVENT"];

    fn row(&self) -> Vec<String> {
        vec![
            time(&self.received_at),
            self.id.clone(),
            self.event_type.clone(),
            self.source.clone(),
            opt(self.call_id()),
            opt(self.provider_event.as_deref()),
        ]
    }
}

pub async fn run(g: &Global, c: &Client, cmd: EventsCmd) -> CliResult<()> {
    match cmd {
        EventsCmd::Show { id, raw } => {
            let answer = c.get(&format!("/admin/events/{}", segment(&id))).await?;
            if raw {
                let event: StoredEvent = decode(&answer)?;
                return std::io::stdout()
                    .write_all(&event.raw.body)
                    .map_err(|e| CliError::Connection(format!("cannot write: {e}")));
            }
            if g.json {
                print_json(&answer);
            } else {
                print!("{}", describe(&id, &decode(&answer)?));
            }
        }
        EventsCmd::List {
            source,
            call,
            range,
            paging,
        } => {
            let mut params = vec![("source", source), ("call_id", call)];
            params.extend(range.params()?);
            let page = fetch(c, "/admin/events", params, &paging).await?;
            print_page::<Envelope>(g.json, &page)?;
        }
    }
    Ok(())
}

/// The envelope's fields, then the raw request: its body as text when it is UTF-8.
fn describe(id: &str, event: &StoredEvent) -> String {
    let raw = &event.raw;
    let mut out = details(&event.envelope);
    out.push_str(&format!(
        "raw request: {} {}{}\n",
        raw.method,
        opt(raw.content_type.as_deref()),
        opt(raw.query.as_deref().map(|q| format!(" ?{q}")))
    ));
    match std::str::from_utf8(&raw.body) {
        Ok(text) => out.push_str(&format!("raw body:\n{text}\n")),
        Err(_) => out.push_str(&format!(
            "raw body: {} bytes, not UTF-8 (events show {id} --raw prints them)\n",
            raw.body.len()
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored(body_b64: &str) -> StoredEvent {
        serde_json::from_value(json!({
            "envelope": {"id": "evt_1", "type": "call.ended", "provider_event": "call_hangup",
                         "source": "hipcall-main", "received_at": "2024-11-17T10:41:00Z",
                         "call": {"id": "call-42"}},
            "raw": {"method": "POST", "content_type": "application/json", "query": "a=1",
                    "body": body_b64}
        }))
        .unwrap()
    }

    #[test]
    fn rows_and_the_raw_request() {
        let e = stored("eyJ1dWlkIjoiY2FsbC00MiJ9");
        assert_eq!(
            e.envelope.row(),
            [
                "2024-11-17 10:41:00Z",
                "evt_1",
                "call.ended",
                "hipcall-main",
                "call-42",
                "call_hangup"
            ]
        );
        let text = describe("evt_1", &e);
        assert!(text.contains("type            call.ended\n"), "{text}");
        assert!(
            text.contains("raw request: POST application/json ?a=1\n"),
            "{text}"
        );
        assert!(
            text.ends_with("raw body:\n{\"uuid\":\"call-42\"}\n"),
            "{text}"
        );
        let binary = describe("evt_1", &stored("/wA="));
        assert!(binary.contains("raw body: 2 bytes, not UTF-8"), "{binary}");
    }
}
