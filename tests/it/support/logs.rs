//! Tracing output captured into a buffer, for tests that assert what is (not) logged.
//!
//! One global subscriber serves the whole test binary (scoped subscribers miss events
//! whose callsites another test thread registered first). It writes only for threads that
//! are capturing: use the capture from a current-thread runtime (`#[tokio::test]`'s default
//! flavour), so every task the test spawns logs into its buffer and other tests do not.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Mutex, Once};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

type Shared = Arc<Mutex<Vec<u8>>>;

thread_local! {
    static CAPTURE: RefCell<Option<Shared>> = const { RefCell::new(None) };
}

fn capturing() -> bool {
    CAPTURE.with(|c| c.borrow().is_some())
}

#[derive(Clone, Default)]
pub struct LogBuffer(Shared);

/// Writes to the current thread's capture buffer (events are formatted on the thread that
/// emits them).
struct ThreadWriter;

impl Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|c| {
            if let Some(shared) = c.borrow().as_ref() {
                shared.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for ThreadWriter {
    type Writer = ThreadWriter;
    fn make_writer(&'a self) -> Self::Writer {
        ThreadWriter
    }
}

/// Enables everything on capturing threads, nothing elsewhere. Decided per event: the
/// answer depends on the thread, so no callsite may cache it (a `filter_fn` would).
struct OnCapturingThreads;

impl<S> tracing_subscriber::layer::Filter<S> for OnCapturingThreads {
    fn enabled(
        &self,
        _: &tracing::Metadata<'_>,
        _: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        capturing()
    }

    fn callsite_enabled(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
}

/// Stops capturing on this thread when dropped.
pub struct Capturing;

impl Drop for Capturing {
    fn drop(&mut self) {
        CAPTURE.with(|c| *c.borrow_mut() = None);
    }
}

static INSTALL: Once = Once::new();

impl LogBuffer {
    /// Captures every level (TRACE and up), span fields included, on this thread until the
    /// guard drops.
    pub fn install(&self) -> Capturing {
        INSTALL.call_once(|| {
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(ThreadWriter)
                .with_ansi(false)
                .with_filter(OnCapturingThreads);
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
                .expect("no other global subscriber in the test binary");
        });
        // Callsites registered before the subscriber was installed cached "never":
        // recompute every callsite's interest now that it is in place.
        tracing::callsite::rebuild_interest_cache();
        CAPTURE.with(|c| *c.borrow_mut() = Some(self.0.clone()));
        Capturing
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
