fn main() {
    afl::fuzz!(|data: &[u8]| server::fuzzing::accept_encoding(data));
}
