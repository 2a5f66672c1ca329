//! SES in the emulator: the sender identity and the mail it kept.

use super::*;

pub fn ses_client() -> aws_sdk_sesv2::Client {
    aws_sdk_sesv2::Client::new(&sdk_config())
}

/// Creates (or, with `false`, deletes) a sender identity in the emulator's SES.
pub async fn sender_identity(address: &str, present: bool) {
    let ses = ses_client();
    if present {
        let _ = ses
            .create_email_identity()
            .email_identity(address)
            .send()
            .await;
    } else {
        let _ = ses
            .delete_email_identity()
            .email_identity(address)
            .send()
            .await;
    }
}

/// Every mail the emulator's SES accepted from `sender`:
/// `{id, source, subject, body, destinations}`.
pub fn sent_mail(sender: &str) -> Vec<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .get(format!("{}/moto-api/data.json", endpoint()))
        .call()
        .expect("emulator state");
    // The dump holds every table in the emulator: read it whole, however large.
    let text = resp
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_string()
        .expect("the emulator's state dump");
    let data: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    data["ses"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["source"] == sender)
        .cloned()
        .collect()
}

/// The activation link's token in a mail body.
pub fn link_token(mail: &Value) -> Option<String> {
    let body = mail["body"].as_str()?;
    let at = body.find("/activate/")? + "/activate/".len();
    let token: String = body[at..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (token.len() == 64).then_some(token)
}
