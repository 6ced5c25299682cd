//! The service on a laptop: the Lambda functions' handlers behind one loopback origin, routed as
//! the HTTP API routes them in AWS ([`app`]), served by a small HTTP adapter that turns requests
//! into the API Gateway events the handlers take ([`server`]). `wxopen-dev` (started by
//! `scripts/dev.sh`) runs it; the integration tests drive the same [`app::App`]. [`demo`] is a
//! page of its own showing the users' routes at work.

pub mod app;
pub mod demo;
pub mod server;

pub use app::{App, LOCAL_CALLER_ARN, with_iam_caller};
