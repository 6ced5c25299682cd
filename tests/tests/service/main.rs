//! The service's integration tests, as one binary (one link of the workspace, not one per area):
//! the real handlers against DynamoDB Local, the Secrets Manager emulator (both started by
//! `scripts/test.sh`) and the WeChat sandbox, a module per area.
//!
//! `bash scripts/test.sh -p wxopen-tests --test service faults::` runs one area. The log-hygiene
//! test is a binary of its own because it installs the process-wide log subscriber.

mod admin;
mod authorization;
mod bad_inputs;
mod browser;
mod crash_points;
mod degraded_tokens;
mod dev_stack;
mod events;
mod fast_registration;
mod faults;
mod hostile_xml;
mod late_push;
mod messages;
mod reconcile_tokens;
mod sandbox_jssdk;
mod sandbox_pushes;
mod settle_events;
mod ticket_receiver;
mod tls;
mod token_vendor;
mod tokens;
mod user_identity;
mod web_login;
