//! The portal's texts in Italian (the default) and English. Templates ask
//! for a text by key with `t("key")`; a key missing here is a bug that the
//! catalogue test catches, and shows as the key itself, never as a blank.

use clickday_forms::Lang;

/// key, Italian, English.
const CATALOGUE: &[(&str, &str, &str)] = &[
    (
        "site.name",
        "Click Day — Portale dei datori di lavoro",
        "Click Day — Employers' portal",
    ),
    ("site.skip", "Vai al contenuto", "Skip to content"),
    (
        "site.tagline",
        "Domande di nulla osta al lavoro per i cittadini stranieri",
        "Work permit applications for foreign nationals",
    ),
    ("nav.main", "Menu principale", "Main menu"),
    ("page.where", "Percorso", "You are here"),
    ("nav.download", "Programma di invio", "Sending program"),
    ("footer.helpdesk", "Assistenza", "Help desk"),
    ("footer.email", "Email", "Email"),
    ("footer.phone", "Telefono", "Telephone"),
    ("footer.hours", "Orari", "Hours"),
    (
        "footer.tickets",
        "Richieste di assistenza dal portale",
        "Help requests through the portal",
    ),
    ("footer.clock", "Ora esatta", "Exact time"),
    (
        "time.under_a_minute",
        "meno di un minuto",
        "less than a minute",
    ),
    (
        "home.calendar",
        "Calendario dei click day",
        "Click-day calendar",
    ),
    (
        "home.calendar.intro",
        "Le domande si inviano solo con il programma clickday-client, a partire dall'istante di apertura. Gli orari sono quelli di Roma.",
        "Applications are sent only with the clickday-client program, from the opening instant on. Times are Rome times.",
    ),
    (
        "home.calendar.none",
        "Nessun click day in programma.",
        "No click day scheduled.",
    ),
    ("home.opens", "Apertura", "Opens"),
    ("home.closes", "Chiusura", "Closes"),
    ("home.categories", "Tipi di domanda", "Kinds of application"),
    ("home.opens_in", "Apre tra", "Opens in"),
    (
        "home.open_now",
        "Aperto: le domande si possono inviare ora.",
        "Open: applications can be sent now.",
    ),
    ("home.clock", "Ora esatta", "Exact time"),
    (
        "home.clock.now",
        "Ora di Roma sul server",
        "Rome time on the server",
    ),
    (
        "home.clock.advice",
        "L'ordine di arrivo si misura sull'orologio del sistema di invio, non sul Suo. Il programma clickday-client si regola da solo su questo indirizzo; per controllare il Suo computer usi \"clickday-client clock\" o un servizio NTP (ad esempio ntp1.inrim.it).",
        "Arrival order is measured on the sending system's clock, not yours. The clickday-client program sets itself by this address; to check your computer use \"clickday-client clock\" or an NTP service (for example ntp1.inrim.it).",
    ),
    ("home.client", "Programma di invio", "Sending program"),
    (
        "home.client.body",
        "Scarichi clickday-client e il file di impostazioni: li tenga nella stessa cartella.",
        "Download clickday-client and its settings file: keep them in the same folder.",
    ),
    ("home.keys", "Chiavi pubbliche", "Public keys"),
    (
        "home.keys.body",
        "Con queste chiavi chiunque può verificare le ricevute e il registro degli arrivi.",
        "With these keys anyone can check the receipts and the arrival ledger.",
    ),
    ("home.keys.receipt", "Ricevute", "Receipts"),
    (
        "home.keys.ledger",
        "Registro degli arrivi",
        "Arrival ledger",
    ),
    (
        "dl.title",
        "Programma di invio clickday-client",
        "The clickday-client sending program",
    ),
    (
        "dl.intro",
        "Le domande pronte si inviano con clickday-client, che le firma e le spedisce all'istante di apertura. Scarichi il programma per il Suo sistema e il file di impostazioni, e li metta nella stessa cartella.",
        "Ready applications are sent with clickday-client, which signs them and sends them at the opening instant. Download the program for your system and the settings file, and put them in the same folder.",
    ),
    ("dl.builds", "Versioni disponibili", "Available builds"),
    ("dl.file", "File", "File"),
    ("dl.size", "Dimensione", "Size"),
    ("dl.signature", "Firma", "Signature"),
    (
        "dl.none",
        "Nessuna versione pubblicata per ora: chi ha Rust può installarlo dai sorgenti con \"cargo install --path miniclient\".",
        "No build published yet: with Rust, install it from source with \"cargo install --path miniclient\".",
    ),
    ("dl.settings", "File di impostazioni", "Settings file"),
    (
        "dl.settings.body",
        "Contiene gli indirizzi del portale e del sistema di invio, il certificato da considerare affidabile e le chiavi pubbliche per verificare le ricevute.",
        "It holds the portal's and the sending system's addresses, the certificate to trust and the public keys that check receipts.",
    ),
    ("dl.steps", "Come si usa", "How to use it"),
    (
        "dl.step.activate",
        "Attivi il programma con la Sua email (chiede la password del portale):",
        "Activate the program with your email (it asks for your portal password):",
    ),
    (
        "dl.step.list",
        "Controlli le domande pronte:",
        "Check the ready applications:",
    ),
    (
        "dl.step.send",
        "Prima dell'apertura avvii l'invio e lasci il programma acceso:",
        "Before the opening start the sending and leave the program running:",
    ),
    (
        "dl.check",
        "Verifichi che l'impronta SHA-256 del file scaricato coincida con quella indicata.",
        "Check that the SHA-256 digest of the downloaded file matches the one shown.",
    ),
    ("nav.home", "Home", "Home"),
    ("nav.applications", "Le mie domande", "My applications"),
    ("nav.login", "Accesso", "Sign in"),
    ("nav.register", "Registrazione", "Register"),
    ("nav.logout", "Esci", "Sign out"),
    ("nav.language", "Lingua", "Language"),
    ("home.title", "Benvenuto", "Welcome"),
    (
        "home.intro",
        "Qui può registrarsi, compilare online le domande per i click day e prepararle per l'invio con il programma clickday-client.",
        "Register, compile your click-day applications online and get them ready to be sent with the clickday-client program.",
    ),
    ("register.title", "Registrazione", "Registration"),
    ("register.kind", "Tipo di utente", "Kind of user"),
    (
        "register.kind.employer",
        "Datore di lavoro privato",
        "Private employer",
    ),
    (
        "register.kind.association",
        "Associazione di categoria o patronato",
        "Employers' association",
    ),
    (
        "register.kind.office",
        "Ufficio pubblico (Sportello Unico, Questura, Ispettorato)",
        "Public office (Sportello Unico, Questura, labour office)",
    ),
    (
        "register.office_only",
        "Solo per gli uffici pubblici",
        "Public offices only",
    ),
    ("register.office", "Ufficio", "Office"),
    (
        "office.sportello_unico",
        "Sportello Unico per l'Immigrazione",
        "Sportello Unico (immigration desk)",
    ),
    ("office.questura", "Questura", "Questura (police)"),
    (
        "office.labour_office",
        "Ispettorato del lavoro",
        "Labour office",
    ),
    ("offices.title", "Uffici da approvare", "Offices to approve"),
    (
        "offices.intro",
        "Gli uffici registrati leggono le domande della loro provincia solo dopo l'approvazione di un operatore.",
        "Registered offices read their province's applications only once an operator approves them.",
    ),
    (
        "offices.none",
        "Nessun ufficio in attesa.",
        "No office waiting.",
    ),
    ("offices.approve", "Approva", "Approve"),
    ("nav.offices", "Uffici", "Offices"),
    ("nav.office", "Domande ricevute", "Applications received"),
    (
        "office.title",
        "Domande inoltrate all'ufficio",
        "Applications forwarded to the office",
    ),
    (
        "office.intro",
        "Le domande della provincia, nell'ordine di arrivo. Segni come ricevute quelle prese in carico e registri l'esito: il richiedente lo vede sul portale e lo riceve per email.",
        "The province's applications, in arrival order. Mark those you take up as received and record the outcome: the applicant sees it on the portal and gets it by email.",
    ),
    (
        "office.search",
        "Richiedente, lavoratore o codice domanda",
        "Applicant, worker or application code",
    ),
    (
        "office.received",
        "Ricevute dall'ufficio",
        "Received by the office",
    ),
    ("office.received.yes", "Ricevute", "Received"),
    ("office.received.no", "Da ricevere", "Not yet received"),
    ("office.submission", "Numero di invio", "Submission number"),
    ("office.applicant", "Richiedente", "Applicant"),
    ("office.rank", "Posizione", "Rank"),
    ("office.none", "Nessuna domanda.", "No application."),
    (
        "office.mark_received",
        "Segna come ricevuta",
        "Mark as received",
    ),
    (
        "office.received_at",
        "Ricevuta dall'ufficio il",
        "Received by the office on",
    ),
    ("office.steps", "Esiti", "Outcomes"),
    (
        "office.steps.none",
        "Nessun esito registrato.",
        "No outcome recorded.",
    ),
    ("office.record", "Registra un esito", "Record an outcome"),
    (
        "office.note",
        "Nota per il richiedente",
        "Note for the applicant",
    ),
    (
        "office.note.hint",
        "Obbligatoria per un rigetto: il motivo.",
        "Required for a rejection: the reason.",
    ),
    (
        "office.save",
        "Registra e avvisa il richiedente",
        "Record and tell the applicant",
    ),
    ("office.receipt", "Ricevuta (PDF)", "Receipt (PDF)"),
    ("office.back", "Tutte le domande", "All applications"),
    ("office.outcome.in_review", "In istruttoria", "Under review"),
    (
        "office.outcome.granted",
        "Nulla osta rilasciato",
        "Work permit granted",
    ),
    ("office.outcome.rejected", "Rigettata", "Rejected"),
    (
        "office.outcome.choose",
        "Scelga un esito.",
        "Choose an outcome.",
    ),
    (
        "office.outcome.reason",
        "Per un rigetto la nota con il motivo è obbligatoria.",
        "A rejection needs a note with the reason.",
    ),
    (
        "office.waiting.title",
        "Ufficio in attesa di approvazione",
        "Office awaiting approval",
    ),
    (
        "office.waiting.body",
        "Le domande della provincia saranno visibili quando un operatore avrà approvato la registrazione dell'ufficio.",
        "The province's applications will be visible once an operator has approved the office's registration.",
    ),
    ("outcomes.title", "Esiti degli uffici", "Offices' outcomes"),
    (
        "email.outcome.subject",
        "Domanda {application}: {outcome}",
        "Application {application}: {outcome}",
    ),
    (
        "email.outcome.body",
        "Gentile {name},\n\nl'ufficio {office} della provincia di {province} ha aggiornato la domanda {application}.\n\nEsito: {outcome}\nNota dell'ufficio: {note}\n\nLa domanda e la sua storia sono sul portale: {link}\n",
        "Dear {name},\n\nthe office {office} of the province of {province} has updated application {application}.\n\nOutcome: {outcome}\nThe office's note: {note}\n\nThe application and its history are on the portal: {link}\n",
    ),
    (
        "register.full_name",
        "Cognome e nome o denominazione",
        "Full name or organisation name",
    ),
    (
        "register.codice_fiscale",
        "Codice fiscale",
        "Codice fiscale",
    ),
    (
        "register.email",
        "Email (sarà il nome utente)",
        "Email (your username)",
    ),
    (
        "register.password",
        "Password (almeno 8 caratteri)",
        "Password (at least 8 characters)",
    ),
    (
        "register.password_again",
        "Ripeti la password",
        "Repeat the password",
    ),
    ("register.submit", "Registrati", "Register"),
    (
        "register.sent.title",
        "Controlli la Sua email",
        "Check your email",
    ),
    (
        "register.sent.body",
        "Le abbiamo inviato un messaggio con un link per confermare la registrazione. Il link vale per 24 ore e si usa una sola volta.",
        "We sent you a message with a link to confirm your registration. The link is valid for 24 hours and works once.",
    ),
    (
        "confirm.ok.title",
        "Registrazione confermata",
        "Registration confirmed",
    ),
    (
        "confirm.ok.body",
        "Ora può accedere con la Sua email e la Sua password.",
        "You can now sign in with your email and password.",
    ),
    ("confirm.bad.title", "Link non valido", "Invalid link"),
    (
        "confirm.bad.body",
        "Il link è scaduto, è già stato usato o non è corretto.",
        "The link has expired, was already used, or is not correct.",
    ),
    ("login.title", "Accesso", "Sign in"),
    ("login.email", "Email", "Email"),
    ("login.password", "Password", "Password"),
    ("login.submit", "Accedi", "Sign in"),
    (
        "login.failed",
        "Email o password non corrette, oppure registrazione non ancora confermata.",
        "Wrong email or password, or registration not confirmed yet.",
    ),
    (
        "login.limited",
        "Troppi tentativi di accesso. Riprovi tra un minuto.",
        "Too many sign-in attempts. Try again in a minute.",
    ),
    (
        "login.forgot",
        "Password dimenticata?",
        "Forgot your password?",
    ),
    ("forgot.title", "Password dimenticata", "Forgotten password"),
    ("forgot.submit", "Invia il link", "Send the link"),
    (
        "forgot.sent",
        "Se l'indirizzo è registrato, riceverà un'email con un link per scegliere una nuova password.",
        "If the address is registered, you will receive an email with a link to choose a new password.",
    ),
    ("reset.title", "Nuova password", "New password"),
    ("reset.submit", "Salva la password", "Save the password"),
    (
        "reset.done",
        "Password cambiata. Acceda con la nuova password.",
        "Password changed. Sign in with the new password.",
    ),
    ("nav.subaccounts", "Utenze", "Sub-accounts"),
    (
        "sub.title",
        "Utenze dell'associazione",
        "The association's sub-accounts",
    ),
    (
        "sub.intro",
        "Le utenze compilano e inviano domande per conto dell'associazione, con accesso e chiavi proprie. Le loro domande compaiono anche nell'elenco dell'associazione.",
        "Sub-accounts compile and send applications on the association's behalf, with their own sign-in and keys. Their applications also appear in the association's list.",
    ),
    ("sub.none", "Nessuna utenza.", "No sub-accounts."),
    ("sub.new", "Nuova utenza", "New sub-account"),
    ("sub.create", "Crea l'utenza", "Create the sub-account"),
    (
        "sub.created",
        "Utenza creata: la persona riceverà un'email per scegliere la password.",
        "Sub-account created: the person will receive an email to choose a password.",
    ),
    ("sub.active", "Attiva", "Active"),
    (
        "sub.created_many",
        "Utenze create: ogni persona riceverà un'email per scegliere la password. Numero di utenze create:",
        "Accounts created: each person will get an email to choose a password. Accounts created:",
    ),
    (
        "sub.import",
        "Più utenze da un file CSV",
        "Many accounts from a CSV file",
    ),
    (
        "sub.import.intro",
        "Un'utenza per riga: cognome e nome, codice fiscale, email, separati da punto e virgola o da virgola (la prima riga può essere l'intestazione). Il file si controlla tutto prima di creare le utenze: se una riga ha un errore, non si crea nessuna utenza.",
        "One account per line: full name, codice fiscale, email, separated by semicolons or commas (the first line may be a header). The whole file is checked before any account is made: if a line has an error, none is created.",
    ),
    ("sub.import.file", "File CSV", "CSV file"),
    ("sub.import.max", "Righe al massimo", "Lines at most"),
    ("sub.import.submit", "Crea le utenze", "Create the accounts"),
    (
        "sub.import.refused",
        "Nessuna utenza creata. Correggere il file e caricarlo di nuovo:",
        "No account created. Correct the file and upload it again:",
    ),
    ("import.line", "Riga", "Line"),
    (
        "import.not_utf8",
        "Il file non è un testo UTF-8.",
        "The file is not UTF-8 text.",
    ),
    ("import.unreadable", "riga illeggibile", "unreadable line"),
    (
        "import.unreadable_upload",
        "Il caricamento non è riuscito: scegliere il file e riprovare.",
        "The upload failed: choose the file and try again.",
    ),
    (
        "import.columns",
        "servono 3 colonne (cognome e nome, codice fiscale, email), trovate {n}",
        "3 columns are needed (full name, codice fiscale, email), found {n}",
    ),
    (
        "import.empty",
        "Il file non contiene utenze.",
        "The file holds no account.",
    ),
    (
        "import.too_many",
        "Troppe righe: al massimo {max} per file.",
        "Too many lines: at most {max} per file.",
    ),
    (
        "import.twice",
        "email già presente alla riga {line}",
        "email already on line {line}",
    ),
    (
        "import.raced",
        "Un indirizzo del file è stato appena registrato da altri: ricaricare il file per vedere quale.",
        "An address of the file was just registered by someone else: upload the file again to see which.",
    ),
    (
        "sub.invited",
        "In attesa della prima password",
        "Waiting for its first password",
    ),
    ("nav.help", "Assistenza", "Help desk"),
    ("help.title", "Assistenza", "Help desk"),
    ("help.tickets", "Richieste di assistenza", "Help requests"),
    ("help.none", "Nessuna richiesta.", "No requests."),
    ("help.new", "Nuova richiesta", "New request"),
    ("help.number", "Numero", "Number"),
    ("help.topic", "Argomento", "Topic"),
    ("help.subject", "Oggetto", "Subject"),
    ("help.message", "Messaggio", "Message"),
    ("help.send", "Invia la richiesta", "Send the request"),
    ("help.ticket", "Richiesta", "Request"),
    ("help.history", "Storia", "History"),
    ("help.take", "Prendi in carico", "Take in charge"),
    (
        "help.ask",
        "Chiedi altre informazioni",
        "Ask for more information",
    ),
    ("help.ask_send", "Invia la domanda", "Send the question"),
    (
        "help.answer",
        "Risposta (chiude la richiesta)",
        "Answer (closes the request)",
    ),
    ("help.answer_send", "Rispondi e chiudi", "Answer and close"),
    (
        "help.reply",
        "Le informazioni richieste",
        "The information asked for",
    ),
    ("help.reply_send", "Invia", "Send"),
    ("help.back", "Tutte le richieste", "All requests"),
    ("ticket.topic.technical", "Tecnico", "Technical"),
    ("ticket.topic.functional", "Funzionale", "Functional"),
    ("ticket.topic.legal", "Normativo", "Legal"),
    ("ticket.state.open", "Aperta", "Open"),
    ("ticket.state.in_progress", "In lavorazione", "In progress"),
    (
        "ticket.state.waiting_user",
        "In attesa di informazioni dal richiedente",
        "Waiting for your information",
    ),
    ("ticket.state.closed", "Chiusa", "Closed"),
    ("ticket.event.opened", "Richiesta aperta", "Request opened"),
    ("ticket.event.taken", "Presa in carico", "Taken in charge"),
    (
        "ticket.event.question",
        "Domanda dell'operatore",
        "Operator's question",
    ),
    ("ticket.event.reply", "Risposta dell'utente", "User's reply"),
    (
        "ticket.event.answer",
        "Risposta e chiusura",
        "Answer and closing",
    ),
    (
        "email.ticket.opened.subject",
        "Richiesta di assistenza {ticket} ricevuta",
        "Help request {ticket} received",
    ),
    (
        "email.ticket.opened.body",
        "Gentile {name},\n\nabbiamo ricevuto la Sua richiesta \"{subject}\" con il numero {ticket}.\nPuò seguirla qui: {link}\n",
        "Dear {name},\n\nwe received your request \"{subject}\" with number {ticket}.\nYou can follow it here: {link}\n",
    ),
    (
        "email.ticket.question.subject",
        "Richiesta {ticket}: servono altre informazioni",
        "Request {ticket}: more information needed",
    ),
    (
        "email.ticket.question.body",
        "Gentile {name},\n\nper la richiesta {ticket} l'operatore chiede:\n\n{text}\n\nRisponda qui: {link}\n",
        "Dear {name},\n\nabout request {ticket} the operator asks:\n\n{text}\n\nReply here: {link}\n",
    ),
    (
        "email.ticket.answer.subject",
        "Richiesta {ticket}: risposta",
        "Request {ticket}: answer",
    ),
    (
        "email.ticket.answer.body",
        "Gentile {name},\n\nrisposta alla richiesta {ticket}:\n\n{text}\n\nLa richiesta è chiusa: {link}\n",
        "Dear {name},\n\nanswer to request {ticket}:\n\n{text}\n\nThe request is closed: {link}\n",
    ),
    ("apps.title", "Le mie domande", "My applications"),
    ("search.title", "Cerca", "Search"),
    (
        "search.text",
        "Nome del lavoratore o codice domanda",
        "Worker's name or application id",
    ),
    ("search.year", "Anno", "Year"),
    ("search.any", "Tutti", "Any"),
    ("search.state.to_complete", "Da completare", "To complete"),
    (
        "search.state.ready",
        "Pronte, non inviate",
        "Ready, not sent",
    ),
    ("search.state.sent", "Inviate", "Sent"),
    ("search.submit", "Cerca", "Search"),
    ("search.found", "Domande trovate", "Applications found"),
    ("search.pages", "Pagine", "Pages"),
    ("search.previous", "Pagina precedente", "Previous page"),
    ("search.next", "Pagina successiva", "Next page"),
    (
        "apps.none",
        "Non ci sono ancora domande.",
        "You have no applications yet.",
    ),
    ("apps.new", "Nuova domanda", "New application"),
    ("apps.click_day", "Click day", "Click day"),
    ("apps.category", "Tipo di domanda", "Kind of application"),
    ("apps.create", "Crea la domanda", "Create the application"),
    ("apps.id", "Codice domanda", "Application id"),
    ("apps.worker", "Lavoratore", "Worker"),
    ("apps.owner", "Compilata da", "Compiled by"),
    (
        "past.title",
        "Domande dei click day passati",
        "Applications of past click days",
    ),
    (
        "past.intro",
        "Domande inviate negli anni precedenti, con il loro esito: si cercano con gli stessi filtri.",
        "Applications sent in earlier years, with their outcome: the same filters search them.",
    ),
    (
        "past.more",
        "Se ne mostrano le prime 50: restringa la ricerca per vederne altre.",
        "The first 50 are shown: narrow the search to see others.",
    ),
    ("past.outcome", "Esito", "Outcome"),
    (
        "past.outcome.within_quota",
        "In graduatoria, entro la quota",
        "Ranked, within the quota",
    ),
    (
        "past.outcome.beyond_quota",
        "In graduatoria, oltre la quota",
        "Ranked, beyond the quota",
    ),
    (
        "past.outcome.granted",
        "Nulla osta rilasciato",
        "Work permit granted",
    ),
    ("past.outcome.rejected", "Rigettata", "Rejected"),
    ("past.outcome.withdrawn", "Ritirata", "Withdrawn"),
    (
        "past.outcome.unknown",
        "Esito non registrato",
        "Outcome not recorded",
    ),
    ("apps.province", "Provincia", "Province"),
    ("apps.state", "Stato", "State"),
    ("apps.updated", "Ultima modifica", "Last change"),
    ("state.to_complete", "Da completare", "To complete"),
    ("state.ready", "Pronta per l'invio", "Ready to send"),
    ("state.stored", "Inviata e registrata", "Sent and stored"),
    (
        "state.receipt_ready",
        "Inviata, ricevuta disponibile",
        "Sent, receipt available",
    ),
    (
        "state.within_quota",
        "In graduatoria, entro la quota",
        "Ranked within the quota",
    ),
    (
        "state.beyond_quota",
        "In graduatoria, oltre la quota",
        "Ranked beyond the quota",
    ),
    ("sent.title", "Invio", "Sending"),
    ("sent.submission_id", "Numero di invio", "Submission id"),
    ("sent.received_at", "Arrivata il", "Arrived at"),
    (
        "sent.rank",
        "Posizione in graduatoria",
        "Place in the ranking",
    ),
    (
        "sent.receipt",
        "Scarica la ricevuta (PDF)",
        "Download the receipt (PDF)",
    ),
    (
        "sent.receipt_pending",
        "La ricevuta è in preparazione.",
        "The receipt is being prepared.",
    ),
    ("page.step", "Pagina", "Page"),
    ("page.of", "di", "of"),
    ("page.save", "Salva e continua", "Save and continue"),
    (
        "page.saved_with_errors",
        "Pagina salvata. Corregga i campi indicati.",
        "Page saved. Please correct the fields shown.",
    ),
    ("page.required", "obbligatorio", "required"),
    (
        "preview.title",
        "Riepilogo della domanda",
        "Application summary",
    ),
    ("preview.edit", "Modifica", "Edit"),
    (
        "preview.mark_ready",
        "Segna come pronta per l'invio",
        "Mark as ready to send",
    ),
    (
        "preview.missing",
        "Per essere inviata la domanda deve essere completata:",
        "Before it can be sent the application needs:",
    ),
    (
        "preview.ready",
        "La domanda è pronta: il programma clickday-client la invierà all'apertura del click day.",
        "The application is ready: the clickday-client program will send it when the click day opens.",
    ),
    ("error.title", "Errore", "Error"),
    ("error.not_found", "Pagina non trovata.", "Page not found."),
    (
        "error.csrf",
        "Il modulo è scaduto. Torni indietro, ricarichi la pagina e riprovi.",
        "The form has expired. Go back, reload the page and try again.",
    ),
    (
        "error.internal",
        "Si è verificato un errore. Riprovi più tardi.",
        "Something went wrong. Please try again later.",
    ),
    ("field.required", "Campo obbligatorio", "Required field"),
    (
        "field.email",
        "Indirizzo email non valido",
        "Not a valid email address",
    ),
    (
        "field.email_taken",
        "Esiste già un utente con questa email",
        "A user with this email already exists",
    ),
    (
        "field.password_short",
        "La password deve avere almeno 8 caratteri",
        "The password needs at least 8 characters",
    ),
    (
        "field.password_long",
        "La password può avere al massimo 128 caratteri",
        "The password may have at most 128 characters",
    ),
    (
        "field.password_mismatch",
        "Le due password non coincidono",
        "The two passwords differ",
    ),
    ("field.too_long", "Testo troppo lungo", "Text too long"),
    (
        "field.choice",
        "Scelga una delle opzioni",
        "Choose one of the options",
    ),
    (
        "field.category",
        "Questo click day non prevede questo tipo di domanda",
        "This click day has no such kind of application",
    ),
    (
        "email.confirm.subject",
        "Conferma la registrazione al portale Click Day",
        "Confirm your Click Day portal registration",
    ),
    (
        "email.confirm.body",
        "Gentile {name},\n\nper confermare la registrazione apra questo link entro 24 ore:\n\n{link}\n\nSe non si è registrato, ignori questo messaggio.\n",
        "Dear {name},\n\nto confirm your registration open this link within 24 hours:\n\n{link}\n\nIf you did not register, ignore this message.\n",
    ),
    (
        "register.limited.title",
        "Troppe richieste",
        "Too many requests",
    ),
    (
        "register.limited.body",
        "Troppe registrazioni da questo indirizzo: riprovi tra un minuto.",
        "Too many registrations from this address: try again in a minute.",
    ),
    (
        "reset.limited.body",
        "Troppe reimpostazioni di password da questo indirizzo: riprovi tra un minuto.",
        "Too many password resets from this address: try again in a minute.",
    ),
    (
        "email.already.subject",
        "Richiesta di registrazione con il Suo indirizzo",
        "A registration request with your address",
    ),
    (
        "email.already.body",
        "Gentile utente,\n\nè stata chiesta una registrazione al portale Click Day con questo indirizzo, che è già registrato. Se è stato Lei, acceda: {login}\nSe non ricorda la password, ne scelga una nuova: {reset}\n\nSe non è stato Lei, ignori questo messaggio: il Suo account non è cambiato.\n",
        "Hello,\n\nsomeone asked to register on the Click Day portal with this address, which is already registered. If it was you, sign in: {login}\nIf you do not remember the password, choose a new one: {reset}\n\nIf it was not you, ignore this message: your account has not changed.\n",
    ),
    (
        "email.invite.subject",
        "Invito al portale Click Day",
        "Invitation to the Click Day portal",
    ),
    (
        "email.invite.body",
        "Gentile {name},\n\n{by} ha creato per Lei un'utenza sul portale Click Day ({portal}), con cui potrà compilare e inviare le domande dei click day.\n\nPer attivarla scelga la Sua password aprendo questo link entro 24 ore:\n\n{link}\n\nIl nome utente è questo indirizzo email. Se non si aspettava questo invito, ignori il messaggio: senza password l'utenza non si può usare.\n",
        "Dear {name},\n\n{by} has made you an account on the Click Day portal ({portal}), with which you can compile and send click-day applications.\n\nTo activate it, choose your password by opening this link within 24 hours:\n\n{link}\n\nYour username is this email address. If you did not expect this invitation, ignore this message: without a password the account cannot be used.\n",
    ),
    (
        "email.reset.subject",
        "Nuova password per il portale Click Day",
        "New password for the Click Day portal",
    ),
    (
        "email.reset.body",
        "Gentile {name},\n\nper scegliere una nuova password apra questo link entro 24 ore:\n\n{link}\n\nSe non ha chiesto Lei il cambio, ignori questo messaggio: la password resta quella di prima.\n",
        "Dear {name},\n\nto choose a new password open this link within 24 hours:\n\n{link}\n\nIf you did not ask for it, ignore this message: your password stays as it was.\n",
    ),
];

/// Every key of the catalogue (tests look for them on rendered pages: a
/// key shown is a text missing).
pub fn keys() -> impl Iterator<Item = &'static str> {
    CATALOGUE.iter().map(|(key, _, _)| *key)
}

/// The text of `key` in `lang`; the key itself if unknown.
pub fn text(lang: Lang, key: &str) -> &str {
    CATALOGUE
        .iter()
        .find(|(k, _, _)| *k == key)
        .map_or(key, |(_, it, en)| match lang {
            Lang::It => it,
            Lang::En => en,
        })
}

/// `seconds` as a person says it, to the minute: "3 giorni, 4 ore e 12
/// minuti" / "3 days, 4 hours and 12 minutes"; under a minute, "meno di un
/// minuto" / "less than a minute".
pub fn duration_words(lang: Lang, seconds: u64) -> String {
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    let unit = |n: u64, it: (&str, &str), en: (&str, &str)| {
        let (one, many) = match lang {
            Lang::It => it,
            Lang::En => en,
        };
        format!("{n} {}", if n == 1 { one } else { many })
    };
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(unit(days, ("giorno", "giorni"), ("day", "days")));
    }
    if hours > 0 {
        parts.push(unit(hours, ("ora", "ore"), ("hour", "hours")));
    }
    if minutes > 0 {
        parts.push(unit(minutes, ("minuto", "minuti"), ("minute", "minutes")));
    }
    let and = match lang {
        Lang::It => " e ",
        Lang::En => " and ",
    };
    match parts.split_last() {
        None => text(lang, "time.under_a_minute").to_string(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{}{and}{last}", rest.join(", ")),
    }
}

/// `it` or `en`, as in `lang` attributes and cookies.
pub fn code(lang: Lang) -> &'static str {
    match lang {
        Lang::It => "it",
        Lang::En => "en",
    }
}

pub fn parse(code: &str) -> Option<Lang> {
    match code {
        "it" => Some(Lang::It),
        "en" => Some(Lang::En),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_once_and_every_template_key_known() {
        let mut keys: Vec<_> = CATALOGUE.iter().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len(), "a key twice");
        for (name, source) in crate::views::TEMPLATES {
            let calls = source.match_indices("t(\"").filter(|(at, _)| {
                !source[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
            });
            for (at, call) in calls {
                let used = &source[at + call.len()..];
                let key = &used[..used.find('"').unwrap_or(0)];
                if let Some(prefix) = key.strip_suffix('.') {
                    // `t("state." ~ d.state)`: some key has the prefix.
                    assert!(
                        keys.iter().any(|k| k.starts_with(prefix)),
                        "{name}: {key:?}"
                    );
                    continue;
                }
                assert!(keys.contains(&key), "{name} uses unknown key {key:?}");
            }
        }
    }
}
