//! The admin API's configuration collections (`/admin/sources`, `/admin/subscriptions`):
//! their records' paths, and the commands every collection has.

use super::client::{segment, CliResult, Client};
use super::listing::{print_page, Listed};
use super::output::{done, show};
use super::Global;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

pub const SOURCES: Collection = Collection {
    path: "/admin/sources",
    noun: "source",
};

pub const SUBSCRIPTIONS: Collection = Collection {
    path: "/admin/subscriptions",
    noun: "subscription",
};

pub struct Collection {
    /// `/admin/sources`
    pub path: &'static str,
    /// What one record is called in messages (`source`).
    pub noun: &'static str,
}

impl Collection {
    /// One record's path, its id escaped.
    pub fn item(&self, id: &str) -> String {
        format!("{}/{}", self.path, segment(id))
    }

    pub async fn list<T: Listed>(&self, g: &Global, c: &Client) -> CliResult<()> {
        print_page::<T>(g.json, &c.get(self.path).await?)
    }

    pub async fn show<T: DeserializeOwned + Serialize>(
        &self,
        g: &Global,
        c: &Client,
        id: &str,
    ) -> CliResult<()> {
        show::<T>(g.json, &c.get(&self.item(id)).await?)
    }

    pub async fn delete(&self, g: &Global, c: &Client, id: &str) -> CliResult<()> {
        c.delete(&self.item(id)).await?;
        let message = format!("deleted {} {id}", self.noun);
        done(g.json, &json!({"deleted": id}), &message);
        Ok(())
    }
}
