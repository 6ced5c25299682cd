//! Settling recorded authorization events with what became of them.

use super::{Store, StoreError, authorizer_pk, dynamo_error, n, s};

impl Store {
    /// Takes an authorization event of `authorizer_appid` out of the `due` index and records how
    /// it was settled (`applied`, `superseded`, `expired`, `refused`). A second settlement (an
    /// overlapping run) keeps the first one's time and outcome.
    pub async fn settle_event_as(
        &self,
        component: &str,
        authorizer_appid: &str,
        sk: &str,
        outcome: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&authorizer_pk(component, authorizer_appid)))
            .key("sk", s(sk))
            .update_expression(
                "SET settled_at = if_not_exists(settled_at, :now), \
                 outcome = if_not_exists(outcome, :outcome) REMOVE due_pk, due_at",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":outcome", s(outcome))
            .send()
            .await
            .map_err(dynamo_error("UpdateItem"))?;
        Ok(())
    }
}
