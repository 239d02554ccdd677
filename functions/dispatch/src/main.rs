//! Dispatch Lambda: SQS batch → deliveries → partial batch response, within the
//! invocation's deadline.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use switchboard_core::entry::{dispatcher, or_exit};

#[tokio::main]
async fn main() -> Result<(), Error> {
    switchboard_core::entry::init_tracing();
    let dispatcher = or_exit(dispatcher().await);
    let dispatcher = &dispatcher;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = event.context.deadline();
        Ok::<SqsBatchResponse, Error>(dispatcher.handle_invocation(event.payload, deadline).await)
    }))
    .await
}
