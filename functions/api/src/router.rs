//! The route table, once: every path and method the HTTP surface answers, and the handler
//! behind each. `App::handle` dispatches through it, `405` answers take their `Allow`
//! header from it, and the OpenAPI document lists its admin routes from it.
//!
//! A new route is one line in [`ROUTES`], one [`Handler`] variant, one arm in
//! `App::dispatch` and one in `openapi::operations::operation` (the compiler asks for
//! the last two).

use http::Method;
use std::sync::LazyLock;

/// What a route runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Hook,
    Console,
    OpenApi,
    ListSources,
    CreateSource,
    GetSource,
    UpdateSource,
    DeleteSource,
    ListSubscriptions,
    CreateSubscription,
    GetSubscription,
    UpdateSubscription,
    DeleteSubscription,
    RotateSecret,
    ListEvents,
    GetEvent,
    ListDeliveries,
    Replay,
    ListDeadLetters,
    RedriveDeadLetters,
}

/// The two route families: the ingest and admin functions each serve one, `serve` both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Ingest,
    Admin,
}

impl Handler {
    pub fn family(self) -> Family {
        match self {
            Self::Hook => Family::Ingest,
            _ => Family::Admin,
        }
    }
}

/// One method on one path (`{name}` matches one non-empty segment).
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub handler: Handler,
}

const fn route(method: &'static str, path: &'static str, handler: Handler) -> Route {
    Route {
        method,
        path,
        handler,
    }
}

use Handler::*;

pub const ROUTES: &[Route] = &[
    route("POST", "/hooks/{source}", Hook),
    route("GET", "/hooks/{source}", Hook),
    route("PUT", "/hooks/{source}", Hook),
    route("POST", "/hooks/{source}/{token}", Hook),
    route("GET", "/hooks/{source}/{token}", Hook),
    route("PUT", "/hooks/{source}/{token}", Hook),
    route("GET", "/", Console),
    route("GET", "/admin/openapi.json", OpenApi),
    route("GET", "/admin/sources", ListSources),
    route("POST", "/admin/sources", CreateSource),
    route("GET", "/admin/sources/{id}", GetSource),
    route("PATCH", "/admin/sources/{id}", UpdateSource),
    route("DELETE", "/admin/sources/{id}", DeleteSource),
    route("GET", "/admin/subscriptions", ListSubscriptions),
    route("POST", "/admin/subscriptions", CreateSubscription),
    route("GET", "/admin/subscriptions/{id}", GetSubscription),
    route("PATCH", "/admin/subscriptions/{id}", UpdateSubscription),
    route("DELETE", "/admin/subscriptions/{id}", DeleteSubscription),
    route(
        "POST",
        "/admin/subscriptions/{id}/rotate-secret",
        RotateSecret,
    ),
    route("GET", "/admin/events", ListEvents),
    route("GET", "/admin/events/{id}", GetEvent),
    route("GET", "/admin/deliveries", ListDeliveries),
    route("POST", "/admin/replay", Replay),
    route("GET", "/admin/dead-letters", ListDeadLetters),
    route("POST", "/admin/dead-letters/redrive", RedriveDeadLetters),
];

/// The routes of one path, and its `Allow` value (methods sorted, as RFC 9110 lists them).
struct PathRoutes {
    family: Family,
    methods: Vec<(&'static str, Handler)>,
    allow: String,
}

struct Table {
    paths: matchit::Router<usize>,
    entries: Vec<PathRoutes>,
}

/// Built on the first request, not at start-up: the table is tiny, and a cold start that
/// never routes (an init failure) pays nothing.
static TABLE: LazyLock<Table> = LazyLock::new(build);

fn build() -> Table {
    let mut paths = matchit::Router::new();
    let mut order: Vec<&'static str> = Vec::new();
    let mut entries: Vec<PathRoutes> = Vec::new();
    for r in ROUTES {
        let index = match order.iter().position(|p| *p == r.path) {
            Some(i) => i,
            None => {
                order.push(r.path);
                entries.push(PathRoutes {
                    family: r.handler.family(),
                    methods: Vec::new(),
                    allow: String::new(),
                });
                // Err only for a malformed or conflicting pattern in ROUTES, which the
                // unit tests below rule out; such a path would then simply not route.
                if let Err(e) = paths.insert(r.path, order.len() - 1) {
                    tracing::error!(path = r.path, error = %e, "route not registered");
                }
                order.len() - 1
            }
        };
        entries[index].methods.push((r.method, r.handler));
    }
    for e in &mut entries {
        let mut methods: Vec<&str> = e.methods.iter().map(|(m, _)| *m).collect();
        methods.sort_unstable();
        e.allow = methods.join(", ");
    }
    Table { paths, entries }
}

/// The outcome of routing a request.
#[derive(Debug)]
pub enum Resolved<'p> {
    Found {
        handler: Handler,
        params: PathParams<'p>,
    },
    /// The path exists but not with this method.
    MethodNotAllowed {
        family: Family,
        allow: &'static str,
    },
    NotFound,
}

/// The `{name}` segments of a matched path, raw (not percent-decoded), as today's ids.
#[derive(Debug, Default)]
pub struct PathParams<'p>(Vec<(&'static str, &'p str)>);

impl<'p> PathParams<'p> {
    pub fn get(&self, name: &str) -> Option<&'p str> {
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

/// The path as routed: leading and trailing slashes do not matter (`/admin/sources/` is
/// `/admin/sources`), inner empty segments do (`/admin//sources` routes nowhere).
pub fn normalize(path: &str) -> String {
    format!("/{}", path.trim_matches('/'))
}

/// Routes a normalized path (see [`normalize`]).
pub fn resolve<'p>(method: &Method, path: &'p str) -> Resolved<'p> {
    let table: &'static Table = &TABLE;
    let Ok(matched) = table.paths.at(path) else {
        return Resolved::NotFound;
    };
    let Some(entry) = table.entries.get(*matched.value) else {
        return Resolved::NotFound;
    };
    match entry.methods.iter().find(|(m, _)| *m == method.as_str()) {
        Some((_, handler)) => {
            let params = matched
                .params
                .iter()
                .filter_map(|(k, v)| param_name(k).map(|k| (k, v)))
                .collect();
            Resolved::Found {
                handler: *handler,
                params: PathParams(params),
            }
        }
        None => Resolved::MethodNotAllowed {
            family: entry.family,
            allow: &entry.allow,
        },
    }
}

/// The `'static` name of a parameter, from the names the table uses.
fn param_name(name: &str) -> Option<&'static str> {
    ["source", "token", "id"].into_iter().find(|n| *n == name)
}

/// The admin paths, in table order, with their methods (for the OpenAPI document).
pub fn admin_paths() -> Vec<(&'static str, Vec<(&'static str, Handler)>)> {
    let mut out: Vec<(&'static str, Vec<(&'static str, Handler)>)> = Vec::new();
    for r in ROUTES
        .iter()
        .filter(|r| r.handler.family() == Family::Admin)
    {
        match out.iter_mut().find(|(p, _)| *p == r.path) {
            Some((_, methods)) => methods.push((r.method, r.handler)),
            None => out.push((r.path, vec![(r.method, r.handler)])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(method: Method, path: &str) -> Option<(Handler, Vec<(&'static str, String)>)> {
        let path = normalize(path);
        match resolve(&method, &path) {
            Resolved::Found { handler, params } => Some((
                handler,
                params.0.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            )),
            _ => None,
        }
    }

    fn allow(method: Method, path: &str) -> Option<&'static str> {
        let path = normalize(path);
        match resolve(&method, &path) {
            Resolved::MethodNotAllowed { allow, .. } => Some(allow),
            _ => None,
        }
    }

    #[test]
    fn every_pattern_registers_and_every_parameter_is_named() {
        let table = build();
        for r in ROUTES {
            let concrete = r.path.replace("{source}", "s").replace("{token}", "t");
            let concrete = concrete.replace("{id}", "i");
            assert!(table.paths.at(&concrete).is_ok(), "{}", r.path);
            for seg in r.path.split('/').filter(|s| s.starts_with('{')) {
                let name = seg.trim_matches(|c| c == '{' || c == '}');
                assert!(param_name(name).is_some(), "{name}");
            }
        }
        let distinct: std::collections::BTreeSet<(&str, &str)> =
            ROUTES.iter().map(|r| (r.method, r.path)).collect();
        assert_eq!(
            distinct.len(),
            ROUTES.len(),
            "a method and path listed twice"
        );
    }

    #[test]
    fn routes_with_their_parameters() {
        assert_eq!(
            found(Method::POST, "/hooks/hipcall-main/tok"),
            Some((
                Hook,
                vec![("source", "hipcall-main".into()), ("token", "tok".into())]
            ))
        );
        assert_eq!(
            found(Method::PATCH, "/admin/sources/a%2Fb/"),
            Some((UpdateSource, vec![("id", "a%2Fb".into())]))
        );
        assert_eq!(found(Method::GET, "//"), Some((Console, vec![])));
        assert_eq!(
            found(Method::POST, "/admin/subscriptions/sub_1/rotate-secret"),
            Some((RotateSecret, vec![("id", "sub_1".into())]))
        );
    }

    #[test]
    fn unknown_shapes_are_not_found() {
        for path in [
            "/admin",
            "/admin//sources",
            "/admin/sources/a/b/c",
            "/hooks",
            "/hooks/a/b/c",
            "/admin/nothing",
        ] {
            let normalized = normalize(path);
            assert!(
                matches!(resolve(&Method::GET, &normalized), Resolved::NotFound),
                "{path}"
            );
        }
    }

    #[test]
    fn method_not_allowed_names_the_methods_of_the_path() {
        assert_eq!(allow(Method::PUT, "/admin/sources"), Some("GET, POST"));
        assert_eq!(
            allow(Method::POST, "/admin/sources/x"),
            Some("DELETE, GET, PATCH")
        );
        assert_eq!(allow(Method::DELETE, "/hooks/x"), Some("GET, POST, PUT"));
        assert_eq!(allow(Method::POST, "/"), Some("GET"));
        assert_eq!(allow(Method::GET, "/admin/sources"), None);
    }
}
