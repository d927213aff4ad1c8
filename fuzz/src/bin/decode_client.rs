fn main() {
    afl::fuzz!(|data: &[u8]| server::fuzzing::decode_client(data));
}
