//! `switchboard sources ...`: provider accounts, where webhooks come from and how they are
//! verified.

use super::body::{parse_object, Body};
use super::client::{CliResult, Client};
use super::collection::SOURCES;
use super::listing::Listed;
use super::output::{done, done_as, opt, time, wire_name};
use super::Global;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use switchboard_core::domain::{Source, Verification};

#[derive(Subcommand)]
pub enum SourcesCmd {
    /// List sources.
    List,
    /// Show one source (secrets redacted).
    Show { id: String },
    /// Create a source.
    Create {
        #[arg(long)]
        id: String,
        /// hipcall, voipappz, callerdesk, twilio, plivo, telnyx, vonage, aircall, exotel or
        /// generic.
        #[arg(long)]
        provider: String,
        /// `none`, or the verification as JSON, e.g. '{"type":"token","token":"s3cret"}' or
        /// '{"type":"twilio","auth_token":"..."}' (docs/providers.md lists every type).
        #[arg(long)]
        verification: String,
        #[command(flatten)]
        fields: SourceFields,
    },
    /// Change fields of a source.
    Update {
        id: String,
        #[arg(long)]
        verification: Option<String>,
        #[command(flatten)]
        fields: SourceFields,
    },
    /// Delete a source.
    Delete { id: String },
}

/// The flags `create` and `update` share.
#[derive(Args)]
pub struct SourceFields {
    /// IANA zone for providers that send zone-less times.
    #[arg(long)]
    timezone: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// Extra fields as a JSON object (mapping, ip_allow, body_limit_bytes, ...).
    #[arg(long)]
    body: Option<String>,
}

impl SourceFields {
    /// Sets the given fields on `b`; `--body` last, so it can carry any other field.
    fn apply(self, b: &mut Body) -> CliResult<()> {
        b.set_opt("timezone", self.timezone);
        b.set_opt("description", self.description);
        b.merge(self.body.as_deref())
    }
}

impl Listed for Source {
    const HEADERS: &'static [&'static str] =
        &["ID", "PROVIDER", "VERIFICATION", "TIMEZONE", "CREATED"];

    fn row(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            wire_name(&self.provider),
            verification_type(&self.verification).to_owned(),
            opt(self.timezone.as_deref()),
            time(&self.created_at),
        ]
    }
}

/// The `type` of a verification, as the API names it.
fn verification_type(v: &Verification) -> &'static str {
    match v {
        Verification::None => "none",
        Verification::Token { .. } => "token",
        Verification::Hmac { .. } => "hmac",
        Verification::Basic { .. } => "basic",
        Verification::Twilio { .. } => "twilio",
        Verification::Plivo { .. } => "plivo",
        Verification::Telnyx { .. } => "telnyx",
        Verification::Vonage { .. } => "vonage",
        Verification::BodyToken { .. } => "body_token",
    }
}

/// `--verification`: `none`, or the object the API takes.
fn verification(raw: &str) -> CliResult<Value> {
    if raw.trim() == "none" {
        return Ok(json!({"type": "none"}));
    }
    parse_object("--verification", raw).map(Value::Object)
}

pub async fn run(g: &Global, c: &Client, cmd: SourcesCmd) -> CliResult<()> {
    match cmd {
        SourcesCmd::List => SOURCES.list::<Source>(g, c).await?,
        SourcesCmd::Show { id } => SOURCES.show::<Source>(g, c, &id).await?,
        SourcesCmd::Create {
            id,
            provider,
            verification: v,
            fields,
        } => {
            let mut b = Body::default();
            b.set("id", id);
            b.set("provider", provider);
            b.set("verification", verification(&v)?);
            fields.apply(&mut b)?;
            let answer = c.post(SOURCES.path, &b.into_value()).await?;
            done_as(g.json, &answer, |s: Source| {
                format!("created source {}", s.id)
            })?;
        }
        SourcesCmd::Update {
            id,
            verification: v,
            fields,
        } => {
            let mut b = Body::default();
            b.set_opt("verification", v.as_deref().map(verification).transpose()?);
            fields.apply(&mut b)?;
            let answer = c.patch(&SOURCES.item(&id), &b.changes()?).await?;
            done(g.json, &answer, &format!("updated source {id}"));
        }
        SourcesCmd::Delete { id } => SOURCES.delete(g, c, &id).await?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_the_redacted_source_the_api_lists() {
        let listed: Source = serde_json::from_value(json!({
            "id": "hipcall-main", "provider": "hipcall",
            "verification": {"type": "token", "token": "[redacted]", "location": "path"},
            "timezone": "Europe/Istanbul",
            "created_at": "2024-11-17T10:41:00Z", "updated_at": "2024-11-17T10:41:00Z"
        }))
        .unwrap();
        assert_eq!(
            listed.row(),
            [
                "hipcall-main",
                "hipcall",
                "token",
                "Europe/Istanbul",
                "2024-11-17 10:41:00Z"
            ]
        );
        assert_eq!(verification(" none ").unwrap(), json!({"type": "none"}));
        assert!(verification("token").is_err());
    }
}
