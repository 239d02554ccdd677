//! Every list command: one page or all of them (`--all`), printed as a table of the domain
//! type's columns or, with `--json`, as the API's JSON.

use super::client::{decode, query, CliResult, Client};
use super::output::{print_json, table};
use clap::Args;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use switchboard_core::ports::Page;

/// Most pages `--all` follows.
const MAX_PAGES: usize = 100;

#[derive(Args)]
pub struct Paging {
    /// Items per page (1-1000).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Continue from a previous page's next_cursor.
    #[arg(long)]
    pub cursor: Option<String>,
    /// Follow cursors and print everything (at most 100 pages).
    #[arg(long)]
    pub all: bool,
}

impl Paging {
    /// Every page, `limit` items at a time.
    pub fn everything(limit: u32) -> Self {
        Self {
            limit: Some(limit),
            cursor: None,
            all: true,
        }
    }
}

/// A domain type as a row of a list table.
pub trait Listed: DeserializeOwned {
    /// Column titles, in capitals.
    const HEADERS: &'static [&'static str];
    /// The cells of one item, in the order of [`Self::HEADERS`].
    fn row(&self) -> Vec<String>;
}

/// GETs `path` with `params` and the paging flags: the page as the API sent it, or with
/// `--all` the items of every page under one `items` (and the cursor where it stopped, if
/// the page limit was reached). Items stay the API's JSON, for `--json`.
pub async fn fetch(
    c: &Client,
    path: &str,
    mut params: Vec<(&str, Option<String>)>,
    p: &Paging,
) -> CliResult<Value> {
    params.push(("limit", p.limit.map(|l| l.to_string())));
    let mut cursor = p.cursor.clone();
    let mut items: Vec<Value> = Vec::new();
    for _ in 0..MAX_PAGES {
        let mut q = params.clone();
        q.push(("cursor", cursor.clone()));
        let answer = c.get(&format!("{path}{}", query(&q))).await?;
        if !p.all {
            return Ok(answer);
        }
        let page: Page<Value> = decode(&answer)?;
        items.extend(page.items);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    Ok(json!({"items": items, "next_cursor": cursor}))
}

/// Prints a fetched page: the API's JSON with `--json`, else a table of `T`'s columns and,
/// on stderr, how to get the next page.
pub fn print_page<T: Listed>(json: bool, answer: &Value) -> CliResult<()> {
    if json {
        print_json(answer);
        return Ok(());
    }
    let page: Page<T> = decode(answer)?;
    let rows: Vec<Vec<String>> = page.items.iter().map(T::row).collect();
    print!("{}", table(T::HEADERS, &rows));
    if let Some(next) = page.next_cursor {
        eprintln!("more: add --cursor {next} (or --all)");
    }
    Ok(())
}
