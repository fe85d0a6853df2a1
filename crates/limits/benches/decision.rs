//! One in-memory limiter decision (the target: < 200 ns), for both
//! algorithms, on a hot key and across many keys.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_limits::{Gcra, Limit, MemoryStore, SlidingWindow, now_micros};

fn decisions(c: &mut Criterion) {
    let store = MemoryStore::new(100_000);
    let gcra = Limit::Gcra(Gcra::new(1_000_000, Duration::from_secs(1), 1_000_000).unwrap());
    let window = Limit::Window(SlidingWindow::new(u64::MAX / 2, Duration::from_secs(60)).unwrap());
    let keys: Vec<String> = (0..10_000)
        .map(|i| format!("per-ip|10.0.{}.{}", i / 256, i % 256))
        .collect();
    c.bench_function("memory_gcra_hot_key", |b| {
        b.iter(|| store.decide(black_box(b"per-ip|10.0.0.1"), &gcra, 1, now_micros()))
    });
    c.bench_function("memory_window_hot_key", |b| {
        b.iter(|| store.decide(black_box(b"quota|10.0.0.1"), &window, 1, now_micros()))
    });
    let mut i = 0usize;
    c.bench_function("memory_gcra_10k_keys", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            store.decide(black_box(keys[i].as_bytes()), &gcra, 1, now_micros())
        })
    });
}

criterion_group!(benches, decisions);
criterion_main!(benches);
