//! (stub until the real one lands)
pub struct JwtUser {
    pub sub: String,
    pub name: String,
}
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("malformed")]
    Malformed,
}
#[derive(Debug, thiserror::Error)]
#[error("bad jwt config")]
pub struct JwtConfigError;
pub struct JwtVerifier;
impl JwtVerifier {
    pub fn new(_s: Option<&str>, _p: Option<&[u8]>) -> Result<Option<JwtVerifier>, JwtConfigError> {
        Ok(None)
    }
    pub fn verify(&self, _t: &str) -> Result<JwtUser, JwtError> {
        Err(JwtError::Malformed)
    }
}
