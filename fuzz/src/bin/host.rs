fn main() {
    afl::fuzz!(|data: &[u8]| server::fuzzing::host(data));
}
