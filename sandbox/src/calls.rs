//! Counters of every component API call received, per API and per (API, authorizer appid).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calls {
    /// Calls per API name (`api_component_token`, ...), faulted ones included.
    pub per_api: BTreeMap<String, u64>,
    /// Calls per API and the authorizer they were about.
    pub per_authorizer: Vec<AuthorizerCalls>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizerCalls {
    pub api: String,
    pub authorizer_appid: String,
    pub count: u64,
}

impl Calls {
    pub fn record(&mut self, api: &str, authorizer_appid: Option<&str>) {
        *self.per_api.entry(api.to_owned()).or_default() += 1;
        let Some(appid) = authorizer_appid else {
            return;
        };
        match self
            .per_authorizer
            .iter_mut()
            .find(|c| c.api == api && c.authorizer_appid == appid)
        {
            Some(c) => c.count += 1,
            None => self.per_authorizer.push(AuthorizerCalls {
                api: api.to_owned(),
                authorizer_appid: appid.to_owned(),
                count: 1,
            }),
        }
    }

    pub fn api(&self, api: &str) -> u64 {
        self.per_api.get(api).copied().unwrap_or(0)
    }

    pub fn api_for(&self, api: &str, authorizer_appid: &str) -> u64 {
        self.per_authorizer
            .iter()
            .find(|c| c.api == api && c.authorizer_appid == authorizer_appid)
            .map_or(0, |c| c.count)
    }
}
