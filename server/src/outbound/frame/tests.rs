use super::*;

#[test]
fn json_frames_match_text_frames_of_the_same_json() {
    for n in [0, 100, 125, 126, 200, 65_535, 70_000] {
        let v = serde_json::json!({ "msg": "x".repeat(n) });
        assert_eq!(json_frame(&v), text_frame(&v.to_string()), "payload of {n}");
    }
}

#[test]
fn frames_use_the_shortest_length_form() {
    assert_eq!(&text_frame("hi")[..], &[0x81, 2, b'h', b'i']);
    let f = text_frame(&"x".repeat(200));
    assert_eq!(&f[..4], &[0x81, 126, 0, 200]);
    assert_eq!(f.len(), 204);
    let f = text_frame(&"x".repeat(70_000));
    assert_eq!(&f[..2], &[0x81, 127]);
    assert_eq!(
        u64::from_be_bytes(f[2..10].try_into().expect("8 bytes")),
        70_000
    );
    let c = close_frame(CloseReason::SlowConsumer);
    assert_eq!(c[0], 0x88);
    assert_eq!(u16::from_be_bytes([c[2], c[3]]), 4008);
}
