//! An association's sub-accounts made many at once from a CSV file: the
//! whole file is checked first and a file with any bad line creates
//! nothing, naming each bad line; a good file creates every account in one
//! transaction and invites each person with an invitation, not a
//! password-reset text.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{TestPortal, on_both_stores, text};

const PATH: &str = "/utenze";

on_both_stores!(a_csv_file_creates_all_its_sub_accounts_or_none => |backend| async move {
    let portal = TestPortal::start(backend, "").await;
    let mut association = portal.association("patronato@example.it", "patronato-password").await;
    let parent = portal.store.user_by_email("patronato@example.it").await.unwrap().unwrap();
    portal.emails().await;

    // A header, a good line, a bad codice fiscale, an email twice, a line
    // with two columns: nothing is created, each bad line is named.
    let bad = "Cognome e nome;Codice fiscale;Email\n\
               Rossi Maria;RSSMRA85T10A562S;maria@example.it\n\
               Bianchi Luca;RSSMRA85T10A562X;luca@example.it\n\
               Verdi Anna;RSSMRA85T10A562S;MARIA@example.it\n\
               Neri Paolo;paolo@example.it\n";
    let refused = association.upload(PATH, &[], ("file", "utenze.csv", bad.as_bytes())).await;
    assert_eq!(refused.status, 422);
    let page = text(&refused);
    assert!(page.contains("Nessuna utenza creata"), "{page}");
    assert!(page.contains("Riga 3: Codice fiscale"), "{page}");
    assert!(page.contains("Riga 4: email già presente alla riga 2"), "{page}");
    assert!(page.contains("Riga 5: servono 3 colonne"), "{page}");
    assert!(portal.store.sub_accounts(&parent.user_id).await.unwrap().is_empty());
    assert!(portal.emails().await.is_empty(), "no invitation for a refused file");

    // A good file: BOM, commas, no header.
    let good = "\u{feff}Rossi Maria,RSSMRA85T10A562S,maria@example.it\r\n\
                Bianchi Luca,RSSMRA85T10A562S,luca@example.it\r\n\
                \"Verdi, Anna\",RSSMRA85T10A562S,anna@example.it\r\n";
    let created = association.upload(PATH, &[], ("file", "utenze.csv", good.as_bytes())).await;
    assert_eq!(created.status, 200, "{}", text(&created));
    assert!(text(&created).contains("<strong id=\"created\">3</strong>"));
    let subs = portal.store.sub_accounts(&parent.user_id).await.unwrap();
    let names: Vec<_> = subs.iter().map(|u| u.full_name.as_str()).collect();
    assert_eq!(names.len(), 3);
    assert!(names.contains(&"Verdi, Anna"), "{names:?}");
    let invitations = portal.emails().await;
    assert_eq!(invitations.len(), 3);
    for (_, subject, body) in &invitations {
        assert_eq!(subject, "Invito al portale Click Day");
        assert!(body.contains("Patronato Uno ha creato per Lei un'utenza"), "{body}");
    }

    // An address already registered: refused, named, nothing created.
    let again = "Gialli Sara;RSSMRA85T10A562S;sara@example.it\nRossi Maria;RSSMRA85T10A562S;maria@example.it\n";
    let taken = association.upload(PATH, &[], ("file", "utenze.csv", again.as_bytes())).await;
    assert_eq!(taken.status, 422);
    assert!(text(&taken).contains("Riga 2: Esiste già un utente con questa email"), "{}", text(&taken));
    assert_eq!(portal.store.sub_accounts(&parent.user_id).await.unwrap().len(), 3);

    // Too big a file is refused before it is read whole.
    let huge = "Rossi Maria;RSSMRA85T10A562S;x@example.it\n".repeat(8_000);
    let refused = association.upload(PATH, &[], ("file", "utenze.csv", huge.as_bytes())).await;
    assert!(refused.status == 400 || refused.status == 413, "{}", refused.status);
    assert_eq!(portal.store.sub_accounts(&parent.user_id).await.unwrap().len(), 3);

    // Only an association imports.
    let mut employer = portal.signed_in("datore@example.it", "password-del-datore").await;
    let token = employer.token().await;
    let posted = employer
        .post_with_token("/utenze/importa", &[], &token)
        .await;
    assert_eq!(posted.status, 404);
});
