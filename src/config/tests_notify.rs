//! `[[notify]]`, `[source.commit_status]` and `[server] public_url`.

use super::tests::{ErrorCase, check_errors, parse_ok};
use super::*;
use crate::events::EventKind;

const SOURCE: &str = "[[source]]\nname = \"prod\"\nurl = \"https://git.example.com/a.git\"\n";

#[test]
fn destinations_and_commit_statuses_are_read() {
    let text = format!(
        "[server]\npublic_url = \"https://drover.example.com/\"\n{SOURCE}\
         [source.commit_status]\nprovider = \"gitlab\"\nrepository = \"infra/jobs\"\ntoken_file = \"forge-token\"\n\
         [[notify]]\nname = \"ops\"\nkind = \"webhook\"\nurl_file = \"hook-url\"\nsecret_file = \"hook-key\"\n\
         events = [\"succeeded\", \"recovered\"]\nmin_severity = \"warning\"\nsources = [\"prod\"]\n\
         [[notify]]\nname = \"chat\"\nkind = \"slack\"\nurl_file = \"/etc/drover/slack\"\n"
    );
    let config = parse_ok(&text);
    let public = config.server.public_url.as_ref().map(url::Url::as_str);
    assert_eq!(public, Some("https://drover.example.com/"));
    let forge = config.sources[0]
        .commit_status
        .as_ref()
        .expect("commit status");
    assert_eq!(forge.provider, Provider::Gitlab);
    assert_eq!(forge.api_url.as_str(), "https://gitlab.com/api/v4");
    assert_eq!(forge.context, "drover/prod");
    let [ops, chat] = config.notify.as_slice() else {
        panic!("two destinations")
    };
    assert_eq!(
        (ops.kind, chat.kind),
        (NotifyKind::Webhook, NotifyKind::Slack)
    );
    assert!(ops.secret.is_some() && chat.secret.is_none());
    assert!(
        ops.events
            .contains(&Wanted::Recovered(RecoveredWord::Recovered))
    );
    assert!(ops.events.contains(&Wanted::Event(EventKind::Succeeded)));
    assert_eq!(ops.min_severity, Severity::Warning);
    assert!(ops.hears("prod") && !ops.hears("stage") && chat.hears("stage"));
    assert_eq!(chat.events, default_events());
    assert_eq!(chat.group_window, std::time::Duration::from_secs(5));
}

#[test]
fn notify_errors_name_file_line_and_key() {
    let notify = "[[notify]]\nname = \"chat\"\nkind = \"slack\"\n";
    let forge = "[source.commit_status]\nprovider = \"github\"\n";
    #[rustfmt::skip]
    let cases: &[ErrorCase] = &[
        ("no url", format!("{SOURCE}{notify}"), 4, &["`notify[0].url_file`", "url_credential"]),
        ("both urls", format!("{SOURCE}{notify}url_file = \"u\"\nurl_credential = \"u\"\n"), 8, &["`notify[0].url_credential`", "not both"]),
        ("secret on chat", format!("{SOURCE}{notify}url_file = \"u\"\nsecret_file = \"k\"\n"), 8, &["`notify[0].secret_file`", "only a `webhook`"]),
        ("unknown source", format!("{SOURCE}{notify}url_file = \"u\"\nsources = [\"stage\"]\n"), 8, &["`notify[0].sources`", "`stage`"]),
        ("unknown event", format!("{SOURCE}{notify}url_file = \"u\"\nevents = [\"exploded\"]\n"), 8, &["`notify[0].events`"]),
        ("no events", format!("{SOURCE}{notify}url_file = \"u\"\nevents = []\n"), 8, &["`notify[0].events`", "at least one"]),
        ("same name", format!("{SOURCE}{notify}url_file = \"u\"\n{notify}url_file = \"u\"\n"), 9, &["`notify[1].name`", "unique"]),
        ("gitea without api", format!("{SOURCE}[source.commit_status]\nprovider = \"gitea\"\nrepository = \"o/r\"\ntoken_file = \"t\"\n"), 4, &["`source[0].commit_status.api_url`", "no default"]),
        ("bad repository", format!("{SOURCE}{forge}repository = \"just-a-name\"\ntoken_file = \"t\"\n"), 6, &["`source[0].commit_status.repository`", "owner/name"]),
        ("no token", format!("{SOURCE}{forge}repository = \"o/r\"\n"), 4, &["`source[0].commit_status.token_file`"]),
        ("bad public url", format!("[server]\npublic_url = \"drover.example.com\"\n{SOURCE}"), 2, &["`server.public_url`", "not a valid URL"]),
    ];
    check_errors(cases);
}
