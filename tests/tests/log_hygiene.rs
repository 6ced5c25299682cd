//! No secret or token reaches a log line. The functions' own subscriber (JSON lines, as
//! deployed: `wxopen::telemetry::subscriber`) writes into a buffer while every flow runs: ticket
//! pushes, authorization by link and callback, by push alone and again (updateauthorized), the
//! refresher with rotation, recovery and reconciliation, a withdrawal, mini program login,
//! JS-SDK configuration and web login (its code, the user's OAuth tokens), and errors (refused pushes and links, refused codes, WeChat's errcodes,
//! an unreachable WeChat). Every credential WeChat
//! (the sandbox) issued is recorded by a proxy the service's API calls go through, and by the
//! pushes and redirects; then no log line, no Debug output of the main types and no result of
//! the operators' command (wxopen-admin) may hold one.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body as AxumBody;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lambda_http::RequestExt;
use reqwest::header::CONTENT_TYPE;
use token_refresher::{RefreshRequest, Refresher};
use tokio::task::JoinHandle;
use tracing_subscriber::EnvFilter;
use wxopen::authorization::RebindPolicy;
use wxopen::tokens::Tokens;
use wxopen_tests::dev_server;
use wxopen_tests::sandbox::{Sandbox, SandboxConfig};
use wxopen_tests::service::{App, Service};
use wxopen_tests::*;

/// The log lines, as Lambda would ship them to CloudWatch.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .expect("log lines are UTF-8")
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Credentials seen, by the JSON field, query parameter or XML element that carried them.
#[derive(Default)]
struct Harvest(Mutex<BTreeMap<String, BTreeSet<String>>>);

/// Where WeChat's credentials travel in the component APIs.
const CREDENTIAL_FIELDS: [&str; 13] = [
    // Mini program login (jscode2session's code and session key) and the JS-SDK ticket.
    "js_code",
    // A web login user's OAuth access token (its refresh_token is below).
    "access_token",
    "session_key",
    "ticket",
    "component_access_token",
    "component_verify_ticket",
    "component_appsecret",
    "component_secret",
    "pre_auth_code",
    "authorization_code",
    "authorizer_access_token",
    "authorizer_refresh_token",
    "refresh_token",
];

impl Harvest {
    fn add(&self, kind: &str, value: &str) {
        if !value.is_empty() {
            self.0
                .lock()
                .unwrap()
                .entry(kind.to_owned())
                .or_default()
                .insert(value.to_owned());
        }
    }

    fn json(&self, bytes: &[u8]) {
        fn walk(harvest: &Harvest, value: &serde_json::Value) {
            match value {
                serde_json::Value::Object(map) => {
                    for (key, value) in map {
                        match value {
                            serde_json::Value::String(s) if CREDENTIAL_FIELDS.contains(&&**key) => {
                                harvest.add(key, s)
                            }
                            other => walk(harvest, other),
                        }
                    }
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| walk(harvest, v)),
                _ => {}
            }
        }
        if let Ok(value) = serde_json::from_slice(bytes) {
            walk(self, &value);
        }
    }

    fn query(&self, query: &str) {
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if CREDENTIAL_FIELDS.contains(&&*name) || name == "auth_code" || name == "code" {
                self.add(&name, &value);
            }
        }
    }

    /// The credentials a push carried (its decrypted XML).
    fn push_xml(&self, xml: &str) {
        let fields = wxopen::xml::parse(xml).unwrap();
        for name in ["ComponentVerifyTicket", "AuthorizationCode", "PreAuthCode"] {
            if let Some(value) = fields.get(name) {
                self.add(name, value);
            }
        }
    }

    fn all(&self) -> BTreeMap<String, BTreeSet<String>> {
        self.0.lock().unwrap().clone()
    }
}

/// Passes the service's component API calls on to the sandbox, keeping every credential in
/// them: the service's view of WeChat, whatever it chose to store.
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    harvest: Arc<Harvest>,
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    proxy.harvest.query(parts.uri.query().unwrap_or_default());
    proxy.harvest.json(&bytes);
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = proxy
        .http
        .request(parts.method, format!("{}{path}", proxy.upstream))
        .body(bytes);
    if let Some(content_type) = parts.headers.get(CONTENT_TYPE) {
        upstream = upstream.header(CONTENT_TYPE, content_type);
    }
    let Ok(answer) = upstream.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let content_type = answer.headers().get(CONTENT_TYPE).cloned();
    let body = answer.bytes().await.unwrap_or_default();
    proxy.harvest.json(&body);
    let mut response = Response::builder().status(status);
    if let Some(content_type) = content_type {
        response = response.header(CONTENT_TYPE, content_type);
    }
    response.body(AxumBody::from(body)).unwrap()
}

async fn start_proxy(upstream: &str, harvest: Arc<Harvest>) -> (String, JoinHandle<()>) {
    let proxy = Arc::new(Proxy {
        upstream: upstream.trim_end_matches('/').to_owned(),
        http: reqwest::Client::new(),
        harvest,
    });
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, task)
}

/// The service as tests/src/service.rs builds it, with its component API calls through the
/// proxy and the replay window as deployed.
async fn service(harvest: Arc<Harvest>) -> (Service, wxopen::Config, JoinHandle<()>) {
    let aws = aws().await;
    let component = unique_appid();
    let sandbox = Sandbox::start(SandboxConfig {
        component_appid: component.clone(),
        ticket_interval: Duration::ZERO,
        push_retry_delay: Duration::from_millis(200),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let (proxy, proxy_task) = start_proxy(sandbox.base_url(), harvest).await;
    let cell: Arc<std::sync::OnceLock<Arc<App>>> = Arc::default();
    let routed = cell.clone();
    let server = dev_server::serve(move |request| {
        let app = routed.get().expect("set before any request").clone();
        async move { app.route(request).await }
    })
    .await
    .unwrap();
    let mut config = config(&component, "wxopen/local");
    config.wechat_api_base = proxy;
    config.wechat_mp_base = sandbox.base_url().trim_end_matches('/').to_owned();
    config.wechat_open_base = config.wechat_mp_base.clone();
    config.public_base_url = Some(server.base_url().trim_end_matches('/').to_owned());
    config.jssdk_origins = vec![PAGE_ORIGIN.to_owned()];
    config.oauth_return_to = wxopen::oauth::ReturnToList::parse(PAGE_ORIGIN).unwrap();
    let app = Arc::new(App::new(&config, &aws));
    assert!(cell.set(app.clone()).is_ok());
    sandbox.set_event_url(Some(&format!(
        "{}/wechat/component/events",
        server.base_url().trim_end_matches('/')
    )));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let service = Service {
        aws,
        component,
        sandbox,
        server,
        app,
        http,
    };
    (service, config, proxy_task)
}

/// Pages of the platform's that may have a JS-SDK configuration (the sandbox's 网页开发域名).
const PAGE_ORIGIN: &str = "http://127.0.0.1:8080";

/// A refresher whose clock is `ahead` of now, so tokens are due.
fn refresher(config: &wxopen::Config, aws: &aws_config::SdkConfig, ahead: i64) -> Refresher {
    let mut tokens =
        Tokens::from_config(config, aws).with_clock(Arc::new(move || wxopen::unix_now() + ahead));
    tokens.settings.busy_backoff = Duration::from_millis(20);
    Refresher {
        tokens,
        concurrency: 4,
        rebind: RebindPolicy::Refuse,
    }
}

fn session_of(wechat_url: &str) -> String {
    let url = url::Url::parse(wechat_url).unwrap();
    let redirect = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1
        .into_owned();
    redirect.split("session=").nth(1).unwrap().to_owned()
}

/// An admin command's result as Debug and as its JSON output.
fn shown<T: std::fmt::Debug + serde::Serialize>(
    result: Result<T, wxopen_admin::AdminError>,
) -> (String, String) {
    let result = result.expect("the admin command works");
    (
        format!("{result:?}"),
        serde_json::to_string(&result).unwrap(),
    )
}

/// What a secret may look like in a line: itself, URL-encoded, or a telling part of it.
fn needles(secret: &str) -> Vec<String> {
    let mut needles = vec![secret.to_owned()];
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    if encoded != secret {
        needles.push(encoded);
    }
    let random = secret.rsplit("@@@").next().unwrap_or(secret);
    let chars: Vec<char> = random.chars().collect();
    if chars.len() >= 32 {
        needles.push(chars[8..32].iter().collect());
    }
    needles
}

/// The lines (or Debug outputs) holding any secret, with the secret's kind.
fn leaks(texts: &[String], secrets: &BTreeMap<String, BTreeSet<String>>) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (kind, values) in secrets {
        for value in values {
            let needles = needles(value);
            for text in texts {
                if needles.iter().any(|n| text.contains(n.as_str())) {
                    found.push((kind.clone(), text.chars().take(300).collect()));
                }
            }
        }
    }
    found
}

#[tokio::test]
async fn no_secret_or_token_reaches_a_log_line() {
    let capture = Capture::default();
    let writer = capture.clone();
    // As deployed (info), and everything our own crates log at any level.
    let filter = EnvFilter::new(
        "info,wxopen=trace,ticket_receiver=trace,auth_link=trace,auth_callback=trace,\
         token_refresher=trace,token_vendor=trace,user_identity=trace,wxopen_admin=trace",
    );
    tracing::subscriber::set_global_default(wxopen::telemetry::subscriber(filter, move || {
        writer.clone()
    }))
    .expect("the only subscriber of this test binary");

    let harvest = Arc::new(Harvest::default());
    let (s, config, _proxy) = service(harvest.clone()).await;
    let store = &s.app.link.tokens.store;
    let mut debug: Vec<String> = Vec::new();

    // ----- a ticket push -----
    let ticket = s.sandbox.push_ticket().await.unwrap();
    assert!(ticket.success, "{ticket:?}");

    // ----- authorization by link and callback (the push comes too) -----
    let (wechat, referer) = s.open_wechat_page("merchant=logs-1").await;
    harvest.query(wechat.split_once('?').unwrap().1);
    let callback = s.confirm(&wechat, &referer, &s.appid(0)).await;
    harvest.query(callback.split_once('?').unwrap().1);
    let (status, html) = s.get(&callback).await;
    assert_eq!(status, 200, "{html}");
    s.sandbox.wait_for_pushes(2).await.unwrap();

    // ----- authorization by push alone, on the mobile page -----
    let (wechat, referer) = s
        .open_wechat_page("merchant=logs-2&auth_type=2&mode=mobile")
        .await;
    harvest.query(
        wechat
            .split_once('?')
            .unwrap()
            .1
            .trim_end_matches("#wechat_redirect"),
    );
    let _never_visited = s.confirm(&wechat, &referer, &s.appid(3)).await;
    s.sandbox.wait_for_pushes(3).await.unwrap();
    assert!(s.account(&s.appid(3)).await.is_some());

    // ----- the JSON link, and authorization again (updateauthorized, no pre_auth_code) -----
    let json: serde_json::Value = s
        .http
        .get(format!("{}&format=json", s.link("merchant=logs-3").await))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    harvest.query(json["url"].as_str().unwrap().split_once('?').unwrap().1);
    let again = s.sandbox.authorize(&s.appid(0), None).await.unwrap();
    assert!(again.push.as_ref().is_some_and(|p| p.success), "{again:?}");

    // ----- a component token WeChat refuses mid-flow: replaced once, the call retried -----
    s.sandbox.set_event_url(None);
    s.sandbox.fail_next("api_query_auth", 40001, 1);
    let (wechat, referer) = s.open_wechat_page("merchant=logs-4").await;
    let callback = s.confirm(&wechat, &referer, &s.appid(1)).await;
    harvest.query(callback.split_once('?').unwrap().1);
    let (status, html) = s.get(&callback).await;
    assert_eq!(status, 200, "{html}");
    s.sandbox
        .set_event_url(Some(&s.url("/wechat/component/events")));

    // ----- the refresher: all tokens due, rotation, reconciliation -----
    let run = refresher(&config, &s.aws, 7000);
    let summary = token_refresher::refresh(
        &run,
        &RefreshRequest {
            reconcile: true,
            ..RefreshRequest::default()
        },
        Instant::now() + Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert!(summary.refreshed >= 3, "{summary:?}");
    debug.push(format!("{summary:?}"));
    // A refresh token WeChat refuses: recovered from the authorizer list.
    s.sandbox.fail_next("api_authorizer_token", 61023, 1);
    let later = refresher(&config, &s.aws, 14_000);
    let summary = token_refresher::refresh(
        &later,
        &RefreshRequest::default(),
        Instant::now() + Duration::from_secs(60),
    )
    .await
    .unwrap();
    debug.push(format!("{summary:?}"));

    // ----- mini program login (the mini program authorized by push alone): a user logs in,
    // the code is used again, WeChat fails once; the identity token is a credential too -----
    let login = |code: String| {
        s.http
            .post(s.url(&format!("/miniprogram/{}/login", s.appid(3))))
            .body(serde_json::json!({ "code": code }).to_string())
            .send()
    };
    let code = s.sandbox.login_code(&s.appid(3), "log-user");
    let answer: serde_json::Value = login(code.clone()).await.unwrap().json().await.unwrap();
    let session = answer["session"]
        .as_str()
        .expect("a login answers a session");
    harvest.add("identity token", session);
    let session_key = s.sandbox.session_key(&s.appid(3), "log-user").unwrap();
    assert!(!answer.to_string().contains(&session_key));
    assert_eq!(login(code).await.unwrap().status(), 400);
    s.sandbox.fail_next("jscode2session", -1, 1);
    let code = s.sandbox.login_code(&s.appid(3), "log-user");
    assert_eq!(login(code).await.unwrap().status(), 502);

    // ----- JS-SDK configuration: the ticket fetched with a token WeChat refuses once -----
    s.sandbox.fail_next("getticket", 40001, 1);
    let page = format!("{PAGE_ORIGIN}/logs?x=1#top");
    let config_url = |page: &str| {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("url", page)
            .finish();
        s.url(&format!("/jssdk/{}/config?{query}", s.appid(0)))
    };
    let js_config = s.http.get(config_url(&page)).send().await.unwrap();
    assert_eq!(js_config.status(), 200);
    debug.push(js_config.text().await.unwrap());
    let refused = s
        .http
        .get(config_url("https://elsewhere.example.com/"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    for ticket in s.sandbox.jsapi_tickets(&s.appid(0)) {
        harvest.add("jsapi_ticket", &ticket);
    }

    // ----- web login (snsapi_userinfo): the code, the user's OAuth tokens and the identity
    // token are credentials; the code is then used again -----
    let start = s
        .http
        .get(
            reqwest::Url::parse_with_params(
                &s.url(&format!("/oauth/{}/authorize", s.appid(0))),
                &[
                    ("scope", "snsapi_userinfo"),
                    ("return_to", &format!("{PAGE_ORIGIN}/done")),
                ],
            )
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let header =
        |response: &reqwest::Response, name| response.headers()[name].to_str().unwrap().to_owned();
    let cookie = header(&start, reqwest::header::SET_COOKIE);
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let consent = s
        .http
        .get(header(&start, reqwest::header::LOCATION))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form: Vec<(String, String)> = consent
        .split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|tag| {
            let (name, rest) = tag.split_once("\" value=\"").unwrap();
            let value = rest.split('"').next().unwrap().replace("&amp;", "&");
            (name.to_owned(), value)
        })
        .collect();
    form.extend([
        ("user".to_owned(), "log-user".to_owned()),
        ("decision".to_owned(), "allow".to_owned()),
    ]);
    let allowed = s
        .http
        .post(format!(
            "{}/connect/oauth2/authorize",
            s.sandbox.base_url().trim_end_matches('/')
        ))
        .form(&form)
        .send()
        .await
        .unwrap();
    let back = header(&allowed, reqwest::header::LOCATION);
    let callback = || {
        s.http
            .get(&back)
            .header(reqwest::header::COOKIE, &cookie)
            .send()
    };
    let done = callback().await.unwrap();
    assert_eq!(done.status(), 302);
    let location = header(&done, reqwest::header::LOCATION);
    let (_, fragment) = location.split_once("#session=").expect("a session");
    harvest.add("identity token", fragment.split('&').next().unwrap());
    assert_eq!(callback().await.unwrap().status(), 400);

    // ----- a withdrawal -----
    let withdrawn = s.sandbox.withdraw(&s.appid(3)).await.unwrap().unwrap();
    assert!(withdrawn.success, "{withdrawn:?}");

    // ----- the release check on the message URL (codes exchanged, customer-service messages
    // sent with authorizers' tokens), then token vending -----
    let report = s
        .sandbox
        .release_check(&s.url("/wechat/authorizers/$APPID$/events"), &[1])
        .await;
    assert!(report.passed(), "{:#?}", report.failures());
    for path in [
        "/tokens/component".to_owned(),
        format!("/tokens/authorizers/{}", s.appid(0)),
    ] {
        let vended: serde_json::Value = s
            .http
            .get(s.url(&path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = vended["access_token"].as_str();
        harvest.add(
            "vended access_token",
            token.unwrap_or_else(|| panic!("{path}: {vended}")),
        );
    }

    // The key links are signed with never shows: a link minted, refused altered and expired.
    let link_key = aws_sdk_secretsmanager::Client::new(&s.aws)
        .get_secret_value()
        .secret_id(std::env::var("LINK_SECRET_ID").unwrap())
        .send()
        .await
        .unwrap();
    harvest.add("link key", link_key.secret_string().unwrap());
    let minted = s.link("merchant=logs-links").await;
    let (status, _) = s
        .get(&minted.replace("merchant=logs-links", "merchant=logs-other"))
        .await;
    assert_eq!(status, 403);
    let (status, _) = s.get(&s.url("/authorize?merchant=logs-links&go=1")).await;
    assert_eq!(status, 403);

    // ----- errors -----
    let pusher = Pusher::new(TEST_TOKEN, TEST_ENCODING_AES_KEY, &s.component);
    let now = wxopen::unix_now();
    let forged_ticket = "ticket@@@forged-by-the-log-test-0123456789abcdef";
    harvest.add("ComponentVerifyTicket", forged_ticket);
    let events = s.url("/wechat/component/events");
    for (push, signature) in [
        // A forged signature, a replay, a push for another platform.
        (
            pusher.push(&ticket_xml(&s.component, now, forged_ticket), now),
            Some("0".repeat(40)),
        ),
        (
            pusher.push(&ticket_xml(&s.component, now, forged_ticket), now - 3600),
            None,
        ),
        (
            pusher.push(&ticket_xml("wx0123456789abcdef", now, forged_ticket), now),
            None,
        ),
    ] {
        let signature = signature.unwrap_or(push.msg_signature.clone());
        let answer = s
            .http
            .post(format!(
                "{events}?timestamp={}&nonce={}&encrypt_type=aes&msg_signature={signature}",
                push.timestamp, push.nonce
            ))
            .body(push.body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16() / 100, 4);
    }
    let (status, _) = s.get(&s.url("/authorize?merchant=%3Cx%3E")).await;
    assert_eq!(status, 400);
    // A code WeChat does not know, on an open session.
    let (wechat, _) = s.open_wechat_page("merchant=logs-5").await;
    let forged_code = "queryauthcode@@@forged-by-the-log-test-0123456789abcdef";
    harvest.add("auth_code", forged_code);
    let (status, _) = s
        .get(&s.url(&format!(
            "/authorize/callback?session={}&auth_code={forged_code}",
            session_of(&wechat)
        )))
        .await;
    assert_eq!(status, 400);
    // WeChat busy, then its daily quota reached: the link cannot start.
    s.sandbox.fail_next("api_create_preauthcode", -1, 1);
    s.sandbox.fail_next("api_create_preauthcode", 45009, 1);
    let (status, _) = s
        .get(&format!("{}&go=1", s.link("merchant=logs-6").await))
        .await;
    assert_eq!(status, 502);
    // WeChat unreachable: the error must not carry the URL with the token in its query.
    let mut unreachable = config.clone();
    unreachable.wechat_api_base = "http://127.0.0.1:9".into();
    let mut dead_link = auth_link::AuthLink::new(&unreachable, &s.aws).unwrap();
    dead_link.tokens.settings.busy_backoff = Duration::from_millis(20);
    let minted = url::Url::parse(&format!("{}&go=1", s.link("merchant=logs-7").await)).unwrap();
    let request = lambda_http::http::Request::builder()
        .uri(format!("/authorize?{}", minted.query().unwrap()))
        .body(lambda_http::Body::Empty)
        .unwrap()
        .with_query_string_parameters(
            minted
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), vec![v.into_owned()]))
                .collect::<std::collections::HashMap<_, _>>(),
        );
    let answer = auth_link::handle(&dead_link, request).await.unwrap();
    assert_eq!(answer.status(), 502);

    // ----- what WeChat handed out, and the Debug output of the main types -----
    for push in s.sandbox.pushes() {
        harvest.push_xml(&push.xml);
        debug.push(format!(
            "{:?}",
            wxopen::ComponentPush::parse(&push.xml).unwrap()
        ));
    }
    let tokens = &s.app.link.tokens;
    let keys = tokens.secrets.keys().await.unwrap();
    debug.extend([
        format!("{config:?}"),
        format!("{:?}", s.app.link),
        format!("{:?}", s.app.callback),
        format!("{:?}", s.app.receiver),
        format!("{run:?}"),
        format!("{keys:?}"),
        format!("{:?}", keys.secret),
        format!("{:?}", store.ticket(&s.component).await.unwrap()),
        format!("{:?}", store.component_token(&s.component).await.unwrap()),
    ]);
    for index in 0..s.sandbox.accounts().len() {
        let appid = s.appid(index);
        debug.push(format!("{:?}", s.account(&appid).await));
        debug.push(format!(
            "{:?}",
            store.authorization_events(&s.component, &appid).await
        ));
    }
    let token = tokens.component_access_token().await.unwrap();
    debug.push(format!("{token:?}"));
    let wechat = &tokens.wechat;
    debug.extend([
        format!("{:?}", wechat.create_pre_auth_code(token.expose()).await),
        format!(
            "{:?}",
            wechat.authorizer_info(token.expose(), &s.appid(0)).await
        ),
        format!("{:?}", wechat.authorizer_list(token.expose(), 0, 100).await),
    ]);
    s.sandbox.set_event_url(None);
    let grant = s.sandbox.authorize(&s.appid(2), None).await.unwrap().grant;
    harvest.add("AuthorizationCode", &grant.authorization_code);
    let exchanged = wechat
        .query_auth(token.expose(), &grant.authorization_code)
        .await;
    debug.push(format!("{exchanged:?}"));
    let refresh_token = exchanged
        .unwrap()
        .authorization_info
        .authorizer_refresh_token
        .unwrap();
    debug.push(format!(
        "{:?}",
        wechat
            .authorizer_token(token.expose(), &s.appid(2), refresh_token.expose())
            .await
    ));
    let started = wxopen::authorization::start(
        tokens,
        &s.app.link.pages,
        &wxopen::authorization::LinkRequest::parse(
            |name| (name == "merchant").then_some("logs-8"),
            None,
        )
        .unwrap(),
    )
    .await
    .unwrap();
    harvest.query(started.url.split_once('?').unwrap().1);
    debug.push(format!("{started:?}"));
    debug.push(format!(
        "{:?}",
        store.session(&s.component, &started.session_id).await
    ));
    debug.push(format!(
        "{:?}",
        wxopen::authorization::complete(
            tokens,
            RebindPolicy::Refuse,
            forged_code,
            wxopen::authorization::Origin::Callback {
                session_id: &started.session_id
            },
        )
        .await
    ));
    debug.push(format!(
        "{:?}",
        dead_link
            .tokens
            .wechat
            .create_pre_auth_code(token.expose())
            .await
    ));

    // The operators' command: what it prints (text is built from these, JSON is these).
    let admin = Tokens::from_config(&config, &s.aws);
    let results: Vec<(String, String)> = vec![
        shown(wxopen_admin::list(&admin).await),
        shown(wxopen_admin::show(&admin, &s.appid(1)).await),
        shown(wxopen_admin::refresh(&admin, &s.appid(1)).await),
        shown(wxopen_admin::refresh_component(&admin).await),
        shown(wxopen_admin::reconcile(&admin).await),
    ];
    for (debug_output, json) in results {
        debug.push(debug_output);
        debug.push(json);
    }

    // ----- the checks -----
    let mut secrets = harvest.all();
    secrets.insert(
        "the platform's secret".into(),
        [TEST_APPSECRET, TEST_TOKEN, TEST_ENCODING_AES_KEY]
            .map(str::to_owned)
            .into(),
    );
    // Every kind of credential was seen, several times: the check below has something to find.
    for kind in [
        "component_verify_ticket",
        "component_access_token",
        "pre_auth_code",
        "authorization_code",
        "authorizer_access_token",
        "authorizer_refresh_token",
        "refresh_token",
        "component_appsecret",
        "ComponentVerifyTicket",
        "AuthorizationCode",
        "PreAuthCode",
        "auth_code",
        "access_token",
        "vended access_token",
        "js_code",
        "session_key",
        "ticket",
        "jsapi_ticket",
        "identity token",
        "code",
    ] {
        assert!(
            secrets.get(kind).is_some_and(|v| !v.is_empty()),
            "no {kind} was seen: {:?}",
            secrets.keys()
        );
    }
    assert!(secrets["component_access_token"].len() >= 2);
    assert!(secrets["authorizer_access_token"].len() >= 4);
    assert!(secrets["authorizer_refresh_token"].len() >= 3);

    let lines = capture.lines();
    for line in &lines {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
    }
    // The flows did log: the capture is what Lambda would ship.
    for message in [
        "push accepted",
        "push refused",
        "authorization started",
        "authorization completed",
        "authorization withdrawn",
        "component token refreshed",
        "refresh run done",
        "bad authorization link",
        "authorization callback refused",
        "could not start an authorization",
        "WeChat busy; retrying",
        "errcode 45009",
        "refused as a replay",
        "-40001 ValidateSignatureError",
        "-40005 ValidateAppidError",
        "message answered",
        "token vended",
        "mini program user logged in",
        "mini program login refused",
        "mini program login failed",
        "authorizer token refused; replacing it",
        "jsapi ticket refreshed",
        "JS-SDK configuration refused",
        "web login started",
        "web login finished",
        "web login refused",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(message)),
            "no log line says {message:?}:\n{}",
            lines.join("\n")
        );
    }
    let in_logs = leaks(&lines, &secrets);
    assert!(in_logs.is_empty(), "secrets in log lines: {in_logs:#?}");
    let in_debug = leaks(&debug, &secrets);
    assert!(
        in_debug.is_empty(),
        "secrets in Debug output: {in_debug:#?}"
    );

    // The check finds a leak in this very capture: a token logged now is caught.
    let token = secrets["authorizer_access_token"].first().unwrap().clone();
    tracing::warn!(oops = %token, "a careless line");
    let caught = leaks(&capture.lines(), &secrets);
    // The same token may also be known by another name (the access_token of a call it made).
    assert!(
        caught
            .iter()
            .any(|(kind, _)| kind == "authorizer_access_token")
            && caught
                .iter()
                .all(|(_, line)| line.contains("a careless line")),
        "{caught:?}"
    );
}
