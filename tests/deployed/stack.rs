//! The stack `scripts/test-deployed` deployed, and each function as the stack runs it: its
//! environment, and an SDK configuration holding only its role's credentials (from STS
//! `AssumeRole` on the role the stack created for it).

use crate::record::Recorder;
use crate::support::aws;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use std::collections::BTreeMap;
use switchboard_core::adapters::aws::SqsQueue;
use switchboard_core::api::{AdminAuth, App, Surface};
use switchboard_core::config::{AwsResources, Settings};
use switchboard_core::dispatch::Dispatcher;
use switchboard_core::state::{Compose, Ports};

pub const STACK_FILE: &str = "SWITCHBOARD_DEPLOYED_STACK";
pub const CREDENTIALS_FILE: &str = "SWITCHBOARD_DEPLOYED_CREDENTIALS";

pub const INGEST: &str = "IngestFunction";
pub const DISPATCH: &str = "DispatchFunction";
pub const ADMIN: &str = "AdminFunction";

#[derive(serde::Deserialize)]
struct StackFile {
    stack_name: String,
    functions: BTreeMap<String, BTreeMap<String, String>>,
    roles: BTreeMap<String, Role>,
}

#[derive(serde::Deserialize)]
struct Role {
    role_arn: String,
}

#[derive(serde::Deserialize)]
struct CredentialsFile {
    functions: BTreeMap<String, RoleCredentials>,
}

#[derive(serde::Deserialize)]
struct RoleCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
}

fn read_json<T: serde::de::DeserializeOwned>(variable: &str) -> T {
    let path = std::env::var(variable).unwrap_or_default();
    assert!(
        !path.is_empty(),
        "{variable} is not set: this suite runs against the stack scripts/test-deployed \
         deploys (with the emulator's IAM enforcement on); run scripts/test-deployed"
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{variable}={path}: cannot read it ({e}); run scripts/test-deployed")
    });
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{variable}={path}: not what scripts/test-deployed writes: {e}"))
}

/// One function of the deployed stack.
pub struct Function {
    pub name: &'static str,
    env: BTreeMap<String, String>,
    /// Its role's credentials and the recording HTTP client.
    pub sdk: aws_config::SdkConfig,
    pub recorder: Recorder,
}

impl Function {
    /// Loads the stack and builds `name`'s SDK configuration; `inner` carries its HTTP
    /// (the plain client, or one that injects faults).
    pub async fn load(name: &'static str, inner: Option<SharedHttpClient>) -> Self {
        let stack: StackFile = read_json(STACK_FILE);
        let credentials: CredentialsFile = read_json(CREDENTIALS_FILE);
        let env = stack
            .functions
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("stack {}: no function {name}", stack.stack_name));
        let role = stack.roles.get(name).unwrap_or_else(|| {
            panic!(
                "stack {}: no role for {name}; deploy with --with-roles",
                stack.stack_name
            )
        });
        let creds = credentials
            .functions
            .get(name)
            .unwrap_or_else(|| panic!("{CREDENTIALS_FILE}: no credentials for {name}"));
        let account = role.role_arn.split(':').nth(4).unwrap_or_default();
        let base = aws::sdk().await;
        let region = base.region().map(|r| r.to_string()).unwrap_or_default();
        let inner = inner.unwrap_or_else(|| {
            SharedHttpClient::new(aws_smithy_http_client::Builder::new().build_http())
        });
        let recorder = Recorder::new(name, &region, account, inner);
        let sdk = base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                &creds.access_key_id,
                &creds.secret_access_key,
                Some(creds.session_token.clone()),
                None,
                "deployed-stack-role",
            )))
            .http_client(recorder.clone())
            .build();
        Self {
            name,
            env,
            sdk,
            recorder,
        }
    }

    /// The resource names its cold start reads, from its environment in the stack.
    pub fn resources(&self) -> AwsResources {
        AwsResources::from_lookup(|k| self.env.get(k).cloned())
            .unwrap_or_else(|e| panic!("{} would fail its cold start: {e}", self.name))
    }

    /// Its settings from the stack; deliveries to the test's loopback sinks allowed.
    pub fn settings(&self) -> Settings {
        let mut settings = Settings::from_lookup(|k| self.env.get(k).cloned())
            .unwrap_or_else(|e| panic!("{} would fail its cold start: {e}", self.name));
        settings.allow_private_targets = vec!["loopback".into()];
        settings
    }

    pub fn ports(&self) -> Ports {
        Ports::aws(&self.sdk, &self.resources())
    }

    /// The app `entry::ingest_app` / `entry::admin_app` builds.
    pub fn app(&self, surface: Surface) -> App {
        App {
            ports: self.ports(),
            settings: self.settings(),
            admin_auth: AdminAuth::Iam,
            surface,
        }
    }

    pub fn dispatcher_with(&self, settings: Settings) -> Dispatcher {
        Dispatcher::from_settings(self.ports(), settings)
            .unwrap_or_else(|e| panic!("dispatcher: {e}"))
    }

    /// The event source mapping's side of the queue, which runs with this function's role.
    pub fn consumer(&self) -> SqsQueue {
        SqsQueue::new(
            aws_sdk_sqs::Client::new(&self.sdk),
            &self.resources().queue_url,
        )
    }

    /// Fails the test with the emulator's message for every request it refused.
    pub fn assert_no_denials(&self) {
        let denials = self.recorder.denials();
        assert!(
            denials.is_empty(),
            "{} was denied by its role:\n  {}",
            self.name,
            denials.join("\n  ")
        );
    }
}

/// The three functions, each with its own role.
pub struct Stack {
    pub ingest: Function,
    pub dispatch: Function,
    pub admin: Function,
}

impl Stack {
    pub async fn load() -> Self {
        Self {
            ingest: Function::load(INGEST, None).await,
            dispatch: Function::load(DISPATCH, None).await,
            admin: Function::load(ADMIN, None).await,
        }
    }

    /// Ingest's and admin's apps and a dispatcher, each under its function's role, with the
    /// stack's settings.
    pub fn parts(&self) -> (App, App, Dispatcher) {
        let dispatcher = self.dispatch.dispatcher_with(self.dispatch.settings());
        let ingest = self.ingest.app(Surface::Ingest);
        (ingest, self.admin.app(Surface::Admin), dispatcher)
    }

    pub fn assert_no_denials(&self) {
        let all: Vec<String> = [&self.ingest, &self.dispatch, &self.admin]
            .iter()
            .flat_map(|f| f.recorder.denials())
            .collect();
        assert!(
            all.is_empty(),
            "denied by the stack's roles:\n  {}",
            all.join("\n  ")
        );
    }
}
