fn main() {
    afl::fuzz!(|data: &[u8]| server::fuzzing::http_head(data));
}
