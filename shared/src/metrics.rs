//! CloudWatch embedded metric format: one JSON line on stdout per document, which Lambda's
//! log pipeline turns into metrics that alarms can watch. No agent, no API call.

use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every metric the service emits.
pub const NAMESPACE: &str = "wxopen";

/// One metric document: values that share the same dimensions.
#[derive(Debug, Clone, Default)]
pub struct MetricDocument {
    dimensions: Vec<(String, String)>,
    values: Vec<(String, f64, &'static str)>,
}

impl MetricDocument {
    /// An empty document.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a dimension every value of the document is recorded under.
    pub fn dimension(mut self, name: &str, value: &str) -> Self {
        self.dimensions.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `unit` is one of CloudWatch's, e.g. `Count` or `Seconds`.
    pub fn value(mut self, name: &str, value: f64, unit: &'static str) -> Self {
        self.values.push((name.to_owned(), value, unit));
        self
    }

    /// The document as one embedded-metric-format JSON object, stamped `timestamp_ms`.
    pub fn to_json(&self, timestamp_ms: i64) -> Value {
        let mut root = Map::new();
        for (name, value) in &self.dimensions {
            root.insert(name.clone(), json!(value));
        }
        for (name, value, _) in &self.values {
            root.insert(name.clone(), json!(value));
        }
        let metrics: Vec<Value> = self
            .values
            .iter()
            .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
            .collect();
        let dimension_names: Vec<&str> = self.dimensions.iter().map(|(n, _)| n.as_str()).collect();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [dimension_names],
                    "Metrics": metrics,
                }],
            }),
        );
        Value::Object(root)
    }

    /// Prints the document as one line, where Lambda collects it.
    pub fn emit(&self) {
        println!("{}", self.to_json(crate::unix_now() * 1000));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let doc = MetricDocument::new()
            .dimension("Function", "token-refresher")
            .value("Refreshed", 3.0, "Count")
            .to_json(1_000);
        assert_eq!(doc["Refreshed"], 3.0);
        assert_eq!(doc["Function"], "token-refresher");
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "wxopen");
        assert_eq!(directive["Dimensions"], json!([["Function"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "Refreshed", "Unit": "Count"}])
        );
        assert_eq!(doc["_aws"]["Timestamp"], 1_000);
    }
}
