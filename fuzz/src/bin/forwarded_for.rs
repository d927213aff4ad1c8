fn main() {
    afl::fuzz!(|data: &[u8]| server::fuzzing::forwarded_for(data));
}
