//! Per-request cost of the HTTP/1.x wire work the gateway does around the
//! policy: parsing a typical request head (into the `HeaderMap` the checks
//! read), writing the upstream head from it, parsing the upstream's
//! response head (kept raw), and decoding a small chunked body. Run with
//! `cargo bench -p portcullis-gateway --bench wire`.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Method;
use portcullis_gateway::forwarding::{ALL_FORWARDING_FIELDS, ForwardedFor, UpstreamRequestHead};
use portcullis_gateway::wire::{self, ChunkedDecoder, Framing};

const REQUEST: &[u8] = b"GET /api/users/42?expand=orders HTTP/1.1\r\nHost: api.bench.local\r\nUser-Agent: bench-wrk/1.0\r\nAccept: application/json\r\nAuthorization: Bearer abc.def.ghi\r\nCookie: session=1234\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Tue, 01 Dec 2026 21:05:58 GMT\r\nContent-Type: application/json\r\nContent-Length: 19\r\nConnection: keep-alive\r\n\r\n{\"id\":1,\"name\":\"a\"}";
const CHUNKED: &[u8] = b"13\r\n{\"id\":1,\"name\":\"a\"}\r\n0\r\n\r\n";

fn wire(c: &mut Criterion) {
    c.bench_function("wire/parse_request_head", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(black_box(REQUEST));
            let mut scanned = 0;
            let len = wire::find_head_end(&buf, &mut scanned).unwrap_or(0);
            black_box(wire::parse_request_head(&mut buf, len, 100).ok())
        })
    });

    let mut buf = BytesMut::from(REQUEST);
    let mut scanned = 0;
    let len = wire::find_head_end(&buf, &mut scanned).unwrap_or(0);
    let head = wire::parse_request_head(&mut buf, len, 100).expect("a valid head");
    let mut out = Vec::with_capacity(1024);
    c.bench_function("wire/write_upstream_head", |b| {
        b.iter(|| {
            out.clear();
            UpstreamRequestHead {
                method: &head.method,
                target: "/api/users/42?expand=orders",
                headers: &head.headers,
                host: Some(b"api.bench.local"),
                forwarded: ForwardedFor {
                    peer_ip: "127.0.0.1".parse().expect("an address"),
                    peer_text: "127.0.0.1",
                    peer_trusted: false,
                    proto: "http",
                    host: "api.bench.local",
                    fields: &ALL_FORWARDING_FIELDS,
                },
                added: &[],
                request_id: None,
                facts: head.facts,
                bot_tag: None,
            }
            .write(&mut out, Framing::Empty);
            black_box(out.len())
        })
    });

    c.bench_function("wire/parse_response_head", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(black_box(RESPONSE));
            let mut scanned = 0;
            let len = wire::find_head_end(&buf, &mut scanned).unwrap_or(0);
            black_box(wire::parse_response_head(&mut buf, len, &Method::GET).ok())
        })
    });

    c.bench_function("wire/decode_small_chunked_body", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(black_box(CHUNKED));
            let mut decoder = ChunkedDecoder::default();
            let mut n = 0;
            while let Ok(Some(data)) = decoder.decode(&mut buf) {
                n += data.len();
            }
            black_box((n, decoder.is_done()))
        })
    });
}

criterion_group!(benches, wire);
criterion_main!(benches);
