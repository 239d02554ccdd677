//! `--stack NAME`: a deployed stack's API URL from its CloudFormation outputs, read with the
//! user's AWS credentials and region (the same ones that then sign the requests).

use super::client::{CliError, CliResult};

/// The template's output naming the API's base URL.
pub const OUTPUT: &str = "ApiEndpoint";

/// `DescribeStacks` on `stack` (a name or id), then its [`OUTPUT`].
pub async fn api_endpoint(stack: &str) -> CliResult<String> {
    let sdk = switchboard_core::state::load_sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let out = cfn
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            let detail = aws_sdk_cloudformation::error::DisplayErrorContext(&e).to_string();
            if detail.contains("does not exist") {
                CliError::Usage(format!(
                    "no stack {stack:?} in this account and region (--stack / SWITCHBOARD_STACK; region from AWS_REGION or the profile)"
                ))
            } else {
                CliError::Connection(format!("cannot describe stack {stack:?}: {detail}"))
            }
        })?;
    let outputs = out
        .stacks()
        .first()
        .map(|s| s.outputs())
        .unwrap_or_default();
    outputs
        .iter()
        .find(|o| o.output_key() == Some(OUTPUT))
        .and_then(|o| o.output_value())
        .map(|v| v.trim().trim_end_matches('/').to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "stack {stack:?} has no {OUTPUT} output; is it a Switchboard stack?"
            ))
        })
}
