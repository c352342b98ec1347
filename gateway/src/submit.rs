//! The submission path after the body has been read and stamped: checks 3
//! to 9 of PROTOCOL.md, cheapest first.

use crate::Gateway;
use crate::verify::{authenticate, verify_signature};
use bytes::Bytes;
use clickday_core::{Acknowledgement, Application, ArrivalStamp, Problem};
use http::HeaderMap;

impl Gateway {
    pub(crate) async fn submit(
        &self,
        headers: &HeaderMap,
        body: Bytes,
        stamp: ArrivalStamp,
    ) -> Result<Acknowledgement, Problem> {
        // A header sent twice is ambiguous: treat it as absent and refuse.
        let header = |name: &str| {
            let mut values = headers.get_all(name).iter();
            match (values.next(), values.next()) {
                (Some(value), None) => Some(value.as_bytes()),
                _ => None,
            }
        };
        let (key_id, registered) = authenticate(&self.keys, header("clickday-key"))?;
        let signature = verify_signature(&registered.key, header("clickday-signature"), &body)?;
        // After the signature (PROTOCOL v1.1): knowing someone's key_id is
        // not enough to spend their budget.
        self.limiters.check_key(key_id)?;
        let app = Application::parse(&body)?;
        self.calendar.check(&app, stamp.unix_nanos)?;
        self.enqueue(
            app,
            &registered.account_id,
            key_id.to_string(),
            stamp,
            body,
            signature,
        )
        .await
    }
}
