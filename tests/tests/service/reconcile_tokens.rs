//! The reconciliation with api_get_authorizer_list: resumable from the cursor it stores, starting
//! over only after a full pass, bounded by a deadline, and writing only what differs (reads in
//! batches, conditional writes).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use wxopen::store::{ReconcileCursor, Store};
use wxopen::tokens::{ReconcilePass, Tokens};
use wxopen_tests::fault_proxy::FaultProxy;
use wxopen_tests::platform::Platform;

/// WeChat's list, in its order.
async fn listed(tokens: &Tokens) -> Vec<String> {
    let mut appids = Vec::new();
    tokens
        .walk_authorizer_list(|a| {
            appids.push(a.authorizer_appid.clone());
            true
        })
        .await
        .unwrap();
    appids
}

async fn is_stored(p: &Platform, tokens: &Tokens, appid: &str) -> bool {
    tokens
        .store
        .authorizer(&p.component, appid)
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn a_pass_goes_on_from_its_cursor_and_starts_over_only_once_complete() {
    let p = Platform::new().await;
    p.store_ticket().await;
    let tokens = p.tokens();
    // Every account authorized at WeChat; the store holds none of them.
    for appid in p.account_appids() {
        p.sandbox.authorize(&appid, None).await.unwrap();
    }
    let order = listed(&tokens).await;
    assert_eq!(order.len(), 16);
    // An earlier run stopped at offset 10 of yesterday's pass.
    let yesterday = ReconcileCursor {
        pass: "2026-11-30".into(),
        offset: 10,
        done: false,
        listed: 10,
        repaired: 0,
    };
    tokens
        .store
        .save_reconcile_cursor(&p.component, &yesterday, wxopen::unix_now())
        .await
        .unwrap();

    // A run whose time is up starts nothing and leaves the cursor where it was.
    p.sandbox.reset_calls();
    let pass = tokens.reconcile_until(Instant::now()).await.unwrap();
    assert_eq!((pass.listed, pass.offset, pass.done), (0, 10, false));
    assert_eq!(p.sandbox.calls_to("api_get_authorizer_list"), 0);

    // The next goes on from offset 10 and completes yesterday's pass.
    let far = Instant::now() + Duration::from_secs(60);
    let pass = tokens.reconcile_until(far).await.unwrap();
    assert_eq!(
        pass,
        ReconcilePass {
            pass: "2026-11-30".into(),
            listed: 6,
            repaired: 6,
            offset: 16,
            done: true,
        }
    );
    for (index, appid) in order.iter().enumerate() {
        assert_eq!(is_stored(&p, &tokens, appid).await, index >= 10, "{index}");
    }
    let cursor = tokens.store.reconcile_cursor(&p.component).await.unwrap();
    assert_eq!(
        cursor,
        Some(ReconcileCursor {
            pass: "2026-11-30".into(),
            offset: 16,
            done: true,
            listed: 16,
            repaired: 6,
        })
    );

    // Only then does a pass start over, from offset 0: it repairs the first ten.
    let pass = tokens.reconcile_until(far).await.unwrap();
    assert_eq!((pass.listed, pass.repaired, pass.done), (16, 10, true));
    assert_ne!(pass.pass, "2026-11-30");
    for appid in &order {
        assert_eq!(
            p.stored_refresh_token(&tokens, appid).await,
            p.listed_refresh_token(appid)
        );
    }
}

#[tokio::test]
async fn a_pass_over_a_store_that_agrees_reads_in_batches_and_writes_nothing_but_its_cursor() {
    let p = Platform::new().await;
    p.store_ticket().await;
    let setup = p.tokens();
    for appid in p.account_appids() {
        p.authorize(&setup, &appid, "merchant-1").await;
    }
    let proxy = FaultProxy::start(&std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap())
        .await
        .unwrap();
    let mut tokens = p.tokens();
    tokens.store = Store::new(
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&p.aws)
                .endpoint_url(proxy.base_url())
                .build(),
        ),
        &p.config.table_name,
    );
    // The component token is read once, whatever the pass.
    tokens.component_access_token().await.unwrap();
    proxy.clear_log();

    let (listed, repaired) = tokens.reconcile().await.unwrap();
    assert_eq!((listed, repaired), (16, 0));
    let mut operations: BTreeMap<String, usize> = BTreeMap::new();
    for exchange in proxy.log() {
        *operations.entry(exchange.operation).or_default() += 1;
    }
    // One page of the list: its 16 accounts in one BatchGetItem, the cursor in one PutItem, and
    // the component token read per call.
    assert_eq!(operations.get("BatchGetItem"), Some(&1), "{operations:?}");
    assert_eq!(operations.get("PutItem"), Some(&1), "{operations:?}");
    assert_eq!(operations.get("UpdateItem"), None, "{operations:?}");
}
