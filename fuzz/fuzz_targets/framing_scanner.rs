//! The raw-head framing scanner: feeding the same bytes whole or split at any
//! point gives the same verdict.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis_policy::protocol::FramingScanner;

fuzz_target!(|data: &[u8]| {
    let Some((&split, head)) = data.split_first() else { return };
    let mut whole = FramingScanner::default();
    whole.start_head();
    whole.feed(head);
    let cut = split as usize % (head.len() + 1);
    let mut parts = FramingScanner::default();
    parts.start_head();
    parts.feed(&head[..cut]);
    parts.feed(&head[cut..]);
    assert_eq!(whole.ambiguous(), parts.ambiguous());
    assert_eq!(whole.in_head(), parts.in_head());
});
