//! Faults injected on demand: latency, WeChat errcodes (for the next N calls or at a rate),
//! hangs past a client's timeout, and answers that come late after the work was done, per API
//! or for every API (`"*"`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::errors::WxError;
use super::random;

/// Matches every API.
pub const ALL_APIS: &str = "*";

/// One fault, as tests and `POST /sandbox/faults` describe it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Every call waits this long before it is handled.
    Latency { api: String, ms: u64 },
    /// The next `next` calls answer `errcode` (and change nothing).
    Errcode {
        api: String,
        errcode: i64,
        next: u32,
    },
    /// Each call answers `errcode` with probability `rate` (0.0 to 1.0).
    ErrcodeRate {
        api: String,
        errcode: i64,
        rate: f64,
    },
    /// The next `next` calls hang for `ms` before answering -1 (the client has long given up).
    Hang { api: String, ms: u64, next: u32 },
    /// The next `next` calls do their work (a code is used, a token rotated), then wait `ms`
    /// before answering: a client with a shorter timeout never learns what happened.
    AnswerLate { api: String, ms: u64, next: u32 },
}

impl Fault {
    pub fn api(&self) -> &str {
        match self {
            Self::Latency { api, .. }
            | Self::Errcode { api, .. }
            | Self::ErrcodeRate { api, .. }
            | Self::Hang { api, .. }
            | Self::AnswerLate { api, .. } => api,
        }
    }

    fn matches(&self, api: &str) -> bool {
        self.api() == ALL_APIS || self.api() == api
    }

    fn exhausted(&self) -> bool {
        matches!(
            self,
            Self::Errcode { next: 0, .. }
                | Self::Hang { next: 0, .. }
                | Self::AnswerLate { next: 0, .. }
        )
    }
}

/// What the faults decided for one call.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Plan {
    pub latency: Duration,
    pub hang: Option<Duration>,
    pub error: Option<WxError>,
    /// Do the work, then answer after this.
    pub late: Option<Duration>,
}

/// The faults in force.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Vec<Fault>,
}

impl Faults {
    pub fn add(&mut self, fault: Fault) {
        self.rules.push(fault);
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn list(&self) -> Vec<Fault> {
        self.rules.clone()
    }

    /// Decides one call's fate and uses up counted faults.
    pub fn on_call(&mut self, api: &str) -> Plan {
        let mut plan = Plan::default();
        for rule in self.rules.iter_mut().filter(|r| r.matches(api)) {
            match rule {
                Fault::Latency { ms, .. } => {
                    plan.latency = plan.latency.max(Duration::from_millis(*ms));
                }
                Fault::Hang { ms, next, .. } if plan.hang.is_none() && *next > 0 => {
                    *next -= 1;
                    plan.hang = Some(Duration::from_millis(*ms));
                }
                Fault::AnswerLate { ms, next, .. } if plan.late.is_none() && *next > 0 => {
                    *next -= 1;
                    plan.late = Some(Duration::from_millis(*ms));
                }
                Fault::Errcode { errcode, next, .. } if plan.error.is_none() && *next > 0 => {
                    *next -= 1;
                    plan.error = Some(WxError::from_errcode(*errcode));
                }
                Fault::ErrcodeRate { errcode, rate, .. }
                    if plan.error.is_none() && random::unit() < *rate =>
                {
                    plan.error = Some(WxError::from_errcode(*errcode));
                }
                _ => {}
            }
        }
        self.rules.retain(|r| !r.exhausted());
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_faults_are_used_up_in_order() {
        let mut faults = Faults::default();
        faults.add(Fault::Errcode {
            api: "api_query_auth".into(),
            errcode: 45009,
            next: 1,
        });
        faults.add(Fault::Errcode {
            api: ALL_APIS.into(),
            errcode: -1,
            next: 2,
        });
        let code = |f: &mut Faults, api| f.on_call(api).error.map(|e| e.errcode());
        assert_eq!(code(&mut faults, "api_query_auth"), Some(45009));
        assert_eq!(code(&mut faults, "api_query_auth"), Some(-1));
        assert_eq!(code(&mut faults, "api_component_token"), Some(-1));
        assert_eq!(code(&mut faults, "api_query_auth"), None);
        assert!(faults.list().is_empty());
    }

    #[test]
    fn late_answers_are_counted() {
        let mut faults = Faults::default();
        faults.add(Fault::AnswerLate {
            api: "api_query_auth".into(),
            ms: 3000,
            next: 1,
        });
        let plan = faults.on_call("api_query_auth");
        assert_eq!(plan.late, Some(Duration::from_secs(3)));
        assert!(plan.error.is_none() && plan.hang.is_none());
        assert_eq!(faults.on_call("api_query_auth"), Plan::default());
        assert!(faults.list().is_empty());
    }

    #[test]
    fn rates_of_zero_and_one_are_exact() {
        let mut faults = Faults::default();
        faults.add(Fault::ErrcodeRate {
            api: "a".into(),
            errcode: 61004,
            rate: 1.0,
        });
        faults.add(Fault::ErrcodeRate {
            api: "b".into(),
            errcode: 61004,
            rate: 0.0,
        });
        for _ in 0..100 {
            assert!(faults.on_call("a").error.is_some());
            assert!(faults.on_call("b").error.is_none());
        }
    }
}
