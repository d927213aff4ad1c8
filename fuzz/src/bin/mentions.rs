fn main() {
    afl::fuzz!(|data: &[u8]| server::fuzzing::mentions(data));
}
