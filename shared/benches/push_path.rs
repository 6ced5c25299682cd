//! The push path without I/O: envelope, signature, decryption and parsing of a ticket push,
//! as the ticket receiver does it for every push (the secret is cached, so the key is ready).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wxopen::{ComponentPush, Envelope, MessageCrypto};

const APPID: &str = "wxb11529c136998cb6";

fn ticket_push(crypto: &MessageCrypto) -> (String, String, String, String) {
    let xml = format!(
        "<xml><AppId><![CDATA[{APPID}]]></AppId><CreateTime>1764000000</CreateTime>\
         <InfoType><![CDATA[component_verify_ticket]]></InfoType>\
         <ComponentVerifyTicket><![CDATA[ticket@@@{}]]></ComponentVerifyTicket></xml>",
        "x".repeat(86)
    );
    let encrypt = crypto.encrypt(&xml);
    let (timestamp, nonce) = ("1764000000".to_owned(), "1320562132".to_owned());
    let signature = crypto.signature(&timestamp, &nonce, &encrypt);
    let body = format!(
        "<xml><AppId><![CDATA[{APPID}]]></AppId><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    );
    (body, signature, timestamp, nonce)
}

fn push_path(c: &mut Criterion) {
    let crypto = MessageCrypto::new(
        "pamtest",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        APPID,
    )
    .unwrap();
    let (body, signature, timestamp, nonce) = ticket_push(&crypto);

    let mut group = c.benchmark_group("push_path");
    group.throughput(Throughput::Elements(1));
    group.bench_function("ticket_push_verify_decrypt_parse", |b| {
        b.iter(|| {
            let envelope = Envelope::parse(black_box(&body)).unwrap();
            crypto
                .verify_signature(black_box(&signature), &timestamp, &nonce, &envelope.encrypt)
                .unwrap();
            let xml = crypto.decrypt(&envelope.encrypt).unwrap();
            black_box(ComponentPush::parse(&xml).unwrap())
        })
    });
    group.bench_function("signature_only", |b| {
        b.iter(|| crypto.signature(black_box(&timestamp), &nonce, black_box(&signature)))
    });
    group.finish();
}

criterion_group!(benches, push_path);
criterion_main!(benches);
