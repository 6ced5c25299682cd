//! An `authorized` push the receiver only recorded (its budget ran out, or WeChat was slow) is
//! completed by the next refresher run: the account is stored and bound all the same.

use std::time::Duration;

use wxopen_tests::service::Service;
use wxopen_tests::*;

#[tokio::test]
async fn a_push_the_receiver_could_not_act_on_is_completed_by_the_next_refresher_run() {
    let s = Service::start().await;
    let (wechat, referer) = s.open_wechat_page("merchant=shop-late").await;
    s.sandbox.set_event_url(None);
    let callback = s.confirm(&wechat, &referer, &s.appid(5)).await;
    // Hand the push to a receiver that does not act, as WeChat would have delivered it.
    let mut config = config(&s.component, "wxopen/local");
    config.push_timestamp_tolerance = Duration::ZERO;
    let mut recorder = ticket_receiver::Receiver::new(&config, &s.aws);
    recorder.act_budget = Duration::ZERO;
    let push = s.authorized_push(&callback, &s.appid(5)).await;
    let answer = ticket_receiver::handle(&recorder, push.request())
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(s.account(&s.appid(5)).await.is_none());

    let refresher = token_refresher::Refresher::new(
        &{
            let mut c = config.clone();
            c.wechat_api_base = s.sandbox.base_url().trim_end_matches('/').to_owned();
            c
        },
        &s.aws,
    );
    let summary = token_refresher::refresh(
        &refresher,
        &token_refresher::RefreshRequest::default(),
        std::time::Instant::now() + Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(summary.events_settled, 1, "{summary:?}");
    let account = s
        .account(&s.appid(5))
        .await
        .expect("stored by the refresher");
    assert_eq!(account.merchant.as_deref(), Some("shop-late"));
    assert_eq!(s.sandbox.calls_to("api_query_auth"), 1);
}
