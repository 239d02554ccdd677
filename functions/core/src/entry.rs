//! Cold-start wiring for the Lambda functions: read and validate the environment, build the
//! SDK clients once, and hand back what the handler closure captures.

use crate::api::{AdminAuth, App, Surface};
use crate::config::{AwsResources, ConfigError, Settings};
use crate::dispatch::Dispatcher;
use crate::state::{lambda_sdk_config, Compose, Ports};

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Lambda's logging, as `lambda_runtime::tracing::init_default_subscriber` sets it up but
/// without its `EnvFilter` (and the regex engine that comes with it, about 0.15 MiB of each
/// zip): the level is `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG` when it names a plain level,
/// else INFO; `AWS_LAMBDA_LOG_FORMAT=JSON` gives JSON lines. No colours, no timestamps
/// (CloudWatch adds them).
pub fn init_tracing() {
    use tracing_subscriber::filter::LevelFilter;
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let level = var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| var("RUST_LOG"))
        .and_then(|l| l.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let json = var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_max_level(level)
        .with_writer(std::io::stdout);
    // Err: a subscriber is set already (tests); keep it.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Ends the process with the readable message when cold-start wiring fails: Lambda shows it
/// in the INIT log and retries the cold start; `main`'s own `Err` would print `Debug` form.
pub fn or_exit<T>(result: Result<T, InitError>) -> T {
    match result {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "cold start failed");
            std::process::exit(1);
        }
    }
}

/// The stack name the template gives ingest and dispatch: the `Stack` dimension of their
/// metrics.
pub const STACK_NAME: &str = "SWITCHBOARD_STACK_NAME";

/// Metrics as CloudWatch EMF lines on standard output (the function's log stream).
fn emf_metrics() -> std::sync::Arc<dyn crate::metrics::Metrics> {
    let stack = std::env::var(STACK_NAME)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "switchboard".to_owned());
    std::sync::Arc::new(crate::metrics::emf::EmfMetrics::stdout(&stack))
}

async fn aws_ports() -> Result<(Ports, Settings), InitError> {
    let names = AwsResources::from_env()?;
    let settings = Settings::from_env()?;
    let sdk = lambda_sdk_config(&settings);
    Ok((Ports::aws(&sdk, &names), settings))
}

/// The ingest function's app: `/hooks/...` only, sources read through a cache of bounded
/// staleness (`SWITCHBOARD_SOURCE_CACHE_SECS`, default 30 s).
pub async fn ingest_app() -> Result<App, InitError> {
    let (ports, settings) = aws_ports().await?;
    let ports = ports
        .with_source_cache(crate::api::source_cache::SourceCache::ttl_from_env()?)
        .with_metrics(emf_metrics());
    Ok(App {
        ports,
        settings,
        admin_auth: AdminAuth::Iam,
        surface: Surface::Ingest,
    })
}

/// The admin function's app: `/admin/...` only, behind API Gateway's IAM authorizer.
pub async fn admin_app() -> Result<App, InitError> {
    let (ports, settings) = aws_ports().await?;
    Ok(App {
        ports,
        settings,
        admin_auth: AdminAuth::Iam,
        surface: Surface::Admin,
    })
}

/// The dispatch function's dispatcher, with its pooled client and SSRF policy.
pub async fn dispatcher() -> Result<Dispatcher, InitError> {
    let (ports, settings) = aws_ports().await?;
    let ports = ports.with_metrics(emf_metrics());
    Dispatcher::from_settings(ports, settings).map_err(|e| InitError::Client(e.to_string()))
}

#[cfg(feature = "lambda-http")]
pub mod http_glue {
    //! Between lambda_http's request/response types and the library's.

    use crate::api::{App, ClientIp, RuntimeTrace};
    use crate::domain::TraceHeader;
    use bytes::Bytes;
    use lambda_http::request::RequestContext;
    use lambda_http::{Body, Request, RequestExt, Response};
    use std::future::Future;
    use std::pin::Pin;

    /// What a function's handler answers with: boxed, so that [`run`] takes the ingest and
    /// the admin handler as the same type of plain function.
    pub type Handled<'a> =
        Pin<Box<dyn Future<Output = Result<Response<Body>, lambda_http::Error>> + Send + 'a>>;

    /// Runs a function from cold start: tracing, its app (or exit), then API Gateway's
    /// requests through `handler`. Each package passes its own app and handler, so it links
    /// only those (a flag choosing between both would keep both in each package).
    pub async fn run<A>(
        app: A,
        handler: for<'a> fn(&'a App, Request) -> Handled<'a>,
    ) -> Result<(), lambda_http::Error>
    where
        A: Future<Output = Result<App, super::InitError>>,
    {
        super::init_tracing();
        let app = super::or_exit(app.await);
        let app = &app;
        lambda_http::run(lambda_http::service_fn(move |req| handler(app, req))).await
    }

    /// [`ingest`] as a [`run`] handler.
    pub fn ingest_handler(app: &App, req: Request) -> Handled<'_> {
        Box::pin(ingest(app, req))
    }

    /// [`admin`] as a [`run`] handler.
    pub fn admin_handler(app: &App, req: Request) -> Handled<'_> {
        Box::pin(admin(app, req))
    }

    /// The ingest function: `/hooks/...` only, the admin code left out of its package.
    pub async fn ingest(app: &App, req: Request) -> Result<Response<Body>, lambda_http::Error> {
        handle::<true, false>(app, req).await
    }

    /// The admin function: `/admin/...` only, the provider parsers left out of its package.
    pub async fn admin(app: &App, req: Request) -> Result<Response<Body>, lambda_http::Error> {
        handle::<false, true>(app, req).await
    }

    /// Runs one API Gateway request through the route families fixed at compile time.
    async fn handle<const INGEST: bool, const ADMIN: bool>(
        app: &App,
        req: Request,
    ) -> Result<Response<Body>, lambda_http::Error> {
        let client_ip = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => {
                ctx.http.source_ip.as_deref().and_then(|ip| ip.parse().ok())
            }
            _ => None,
        };
        let trace = req
            .lambda_context_ref()
            .and_then(|c| c.xray_trace_id.as_deref())
            .and_then(TraceHeader::from_xray);
        let (parts, body) = req.into_parts();
        let bytes = match body {
            Body::Empty => Bytes::new(),
            Body::Text(s) => Bytes::from(s),
            Body::Binary(b) => Bytes::from(b),
            _ => Bytes::new(),
        };
        let mut request = http::Request::from_parts(parts, bytes);
        if let Some(ip) = client_ip {
            request.extensions_mut().insert(ClientIp(ip));
        }
        if let Some(trace) = trace {
            request.extensions_mut().insert(RuntimeTrace(trace));
        }
        let (parts, body) = app
            .handle_families::<INGEST, ADMIN>(request)
            .await
            .into_parts();
        let body = match String::from_utf8(body.to_vec()) {
            Ok(text) if text.is_empty() => Body::Empty,
            Ok(text) => Body::Text(text),
            Err(e) => Body::Binary(e.into_bytes()),
        };
        Ok(Response::from_parts(parts, body))
    }
}
