fn main() {
    afl::fuzz!(|data: &[u8]| server::fuzzing::if_none_match(data));
}
