//! Unit enums written on the wire as one string per variant (error codes, actions), with their
//! JSON form from one table instead of serde's derive. The derive writes a string match twice
//! per enum (for `&str` and for bytes), and the browser client carries every one of them; a
//! table and one loop do the same in a fraction of the size.

/// Declares a unit enum and its wire names: `Serialize` writes the name, `Deserialize` reads
/// it back (anything else is an unknown variant), `ALL` lists the variants and `as_str` names
/// one.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $wire:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            const NAMES: &'static [&'static str] = &[$($wire),+];

            /// The variant's name on the wire.
            pub const fn as_str(self) -> &'static str {
                Self::NAMES[self as usize]
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                match Self::NAMES.iter().position(|n| *n == s) {
                    Some(i) => Ok(Self::ALL[i]),
                    None => Err(serde::de::Error::unknown_variant(&s, Self::NAMES)),
                }
            }
        }
    };
}

pub(crate) use wire_enum;

#[cfg(test)]
mod tests {
    use crate::{Action, ErrorCode, ServerMessage};

    #[test]
    fn names_round_trip_and_anything_else_is_refused() {
        for &a in Action::ALL {
            let json = serde_json::to_string(&a).expect("encode");
            assert_eq!(serde_json::from_str::<Action>(&json).expect("decode"), a);
        }
        // An escaped name is the same name.
        let code: ErrorCode = serde_json::from_str(r#""bad\u005fjson""#).expect("escaped");
        assert_eq!(code, ErrorCode::BadJson);
        for bad in [r#""Bad_Json""#, r#""bad_json ""#, r#""""#, "3", "null"] {
            assert!(serde_json::from_str::<ErrorCode>(bad).is_err(), "{bad}");
        }
        // Inside a tagged message too (the client reads codes through serde's buffering).
        let err = r#"{"type":"error","code":"no_such_code","message":"x"}"#;
        assert!(serde_json::from_str::<ServerMessage>(err).is_err());
        let ok = r#"{"type":"error","code":"muted","message":"x"}"#;
        assert!(matches!(
            serde_json::from_str::<ServerMessage>(ok),
            Ok(ServerMessage::Error {
                code: ErrorCode::Muted,
                ..
            })
        ));
    }
}
