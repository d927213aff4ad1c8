fn main() {
    afl::fuzz!(|data: &[u8]| server::fuzzing::demo_message(data));
}
