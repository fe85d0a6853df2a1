//! Request bodies by content type (JSON, form, multipart, XML, text): the
//! first byte picks the content type, the rest is the body.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use portcullis_policy::body::ParsedBody;

const TYPES: [&str; 6] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=XyZ",
    "application/xml",
    "text/plain",
    "multipart/form-data; boundary=\"a b\"",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let content_type = TYPES[selector as usize % TYPES.len()];
    let parsed = ParsedBody::parse(Some(content_type), &Bytes::copy_from_slice(body));
    let mut values = 0usize;
    parsed.for_each_value(|_, _| values += 1);
});
