//! The gateway's HTTP/1.x wire parsers on arbitrary bytes: finding a head's
//! end gives the same answer whole or split at any point; request and
//! response heads parse or fail without panicking; the chunked decoder gives
//! the same data and outcome whether the body arrives whole or in two reads.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use portcullis_gateway::wire::{self, ChunkedDecoder};

fn decode(pieces: &[&[u8]]) -> (Vec<u8>, Result<bool, wire::ChunkedError>) {
    let mut decoder = ChunkedDecoder::default();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(data)) => out.extend_from_slice(&data),
                Ok(None) => break,
                Err(e) => return (out, Err(e)),
            }
        }
    }
    (out, Ok(decoder.is_done()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else { return };
    let cut = split as usize % (input.len() + 1);

    let mut scanned = 0;
    let whole = wire::find_head_end(input, &mut scanned);
    let mut scanned = 0;
    let split_end = wire::find_head_end(&input[..cut], &mut scanned)
        .or_else(|| wire::find_head_end(input, &mut scanned));
    assert_eq!(whole, split_end);

    if let Some(len) = whole {
        let mut buf = BytesMut::from(input);
        let _ = wire::parse_request_head(&mut buf, len, 100);
        let mut buf = BytesMut::from(input);
        let _ = wire::parse_response_head(&mut buf, len, &http::Method::GET);
    }

    let (whole_data, whole_end) = decode(&[input]);
    let (split_data, split_end) = decode(&[&input[..cut], &input[cut..]]);
    match (&whole_end, &split_end) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b);
            assert_eq!(whole_data, split_data);
        }
        (Err(_), Err(_)) => {}
        // A chunk-size line over the limit may be seen as an error only
        // once enough of it has arrived; both must still fail or both succeed.
        _ => panic!("whole {whole_end:?} vs split {split_end:?}"),
    }
});
