//! The ticket receiver alone, on a component of its own, against the local services: what the
//! receiver's own tests (tests/tests/service/ticket_receiver.rs, tests/tests/service/hostile_xml.rs) drive.

use std::time::Duration;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use ticket_receiver::{Receiver, handle};
use wxopen::store::StoredTicket;

use crate::{Push, Pusher, TEST_ENCODING_AES_KEY, TEST_TOKEN, aws, config, items_of, unique_appid};

/// A component of its own, with a receiver wired to the local services.
pub struct ReceiverPlatform {
    pub aws: aws_config::SdkConfig,
    pub appid: String,
    pub receiver: Receiver,
    pub pusher: Pusher,
}

impl ReceiverPlatform {
    pub async fn new() -> Self {
        Self::with_secret("wxopen/local").await
    }

    pub async fn with_secret(secret_id: &str) -> Self {
        let aws = aws().await;
        let appid = unique_appid();
        let mut receiver = Receiver::new(&config(&appid, secret_id), &aws);
        // These tests are about what is recorded; acting on authorizations is tested with the
        // sandbox (tests/tests/service/authorization.rs).
        receiver.act_budget = Duration::ZERO;
        let pusher = Pusher::new(TEST_TOKEN, TEST_ENCODING_AES_KEY, &appid);
        Self {
            aws,
            appid,
            receiver,
            pusher,
        }
    }

    pub async fn send(&self, push: &Push) -> (StatusCode, String) {
        answer(handle(&self.receiver, push.request()).await.unwrap())
    }

    pub async fn ticket(&self) -> Option<StoredTicket> {
        self.receiver
            .tokens
            .store
            .ticket(&self.appid)
            .await
            .unwrap()
    }

    pub async fn item_count(&self) -> usize {
        items_of(&self.aws, &self.appid).await.len()
    }

    /// Sends a push that must be refused, and checks the exact answer and that nothing changed.
    pub async fn refused(&self, push: &Push, status: StatusCode, reason: &str) {
        self.refused_request(push.request(), status, reason).await;
    }

    pub async fn refused_request(
        &self,
        request: lambda_http::Request,
        status: StatusCode,
        reason: &str,
    ) {
        let before = items_of(&self.aws, &self.appid).await;
        let got = answer(handle(&self.receiver, request).await.unwrap());
        assert_eq!(got, (status, reason.to_owned()));
        assert_eq!(
            items_of(&self.aws, &self.appid).await,
            before,
            "state changed"
        );
    }
}

/// A handler's answer as (status, body text).
pub fn answer(response: Response<Body>) -> (StatusCode, String) {
    let status = response.status();
    let body = match response.into_body() {
        Body::Text(text) => text,
        Body::Empty => String::new(),
        Body::Binary(bytes) => String::from_utf8(bytes).unwrap(),
        _ => panic!("unexpected body kind"),
    };
    (status, body)
}
