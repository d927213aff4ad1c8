//! (stub until the real one lands)
use std::net::IpAddr;
use std::time::{Duration, Instant};
pub struct Throttle;
impl Throttle {
    pub fn new(_c: usize) -> Throttle {
        Throttle
    }
    pub fn check(&self, _k: &str, _a: Option<IpAddr>, _now: Instant) -> Result<(), Duration> {
        Ok(())
    }
    pub fn failed(&self, _k: &str, _a: Option<IpAddr>, _now: Instant) {}
    pub fn succeeded(&self, _k: &str, _a: Option<IpAddr>) {}
}
