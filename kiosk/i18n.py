"""The kiosk's words in Norwegian Nynorsk, Bokmål and English: one dict catalog per language.

`translate(language, key, **params)` formats the entry with `str.format`. Every key exists in every
catalog (a test checks); a missing key shows as the key itself rather than crashing a kiosk.
"""

from __future__ import annotations

from typing import Any, Literal

Language = Literal["nn", "nb", "en"]
LANGUAGES: tuple[Language, ...] = ("nn", "nb", "en")
LANGUAGE_NAMES: dict[Language, str] = {"nn": "Nynorsk", "nb": "Bokmål", "en": "English"}

EN: dict[str, str] = {
    # footer keys (binding descriptions)
    "key.Confirm": "Confirm",
    "key.Open": "Open",
    "key.Back": "Back",
    "key.Sign": "Sign",
    "key.Language": "Language",
    "key.Log in": "Log in",
    "key.Other method": "Other method",
    "key.Cancel": "Cancel",
    "key.Log out": "Log out",
    "key.Block BankID": "Block BankID",
    "key.Start again": "Start again",
    "key.Yes": "Yes",
    "key.No": "No",
    "key.OK": "OK",
    "key.Phone": "Phone",
    "key.Admin": "Admin",
    # common
    "app.title": "Tillit Bank",
    "app.subtitle": "BankID",
    "common.reference": "Reference",
    "common.expires_in": "Time left: {time}",
    "common.expired": "The time has run out",
    "common.working": "One moment …",
    # welcome
    "welcome.title": "Welcome to Tillit Bank",
    "welcome.lead": "Log in with BankID to read and sign the agreements waiting for you.",
    "welcome.start": "Type your national identity number (11 digits) to begin.",
    "welcome.language": "Language: {language} (F9 to change)",
    "welcome.demo": "Demo customers",
    "welcome.demo_admin": "Administrator: F12, PIN {pin}",
    "welcome.demo_phone": "Phone: Tab, then j (Ja) or n (Nei)",
    "welcome.logged_out": "You have been logged out. Welcome back!",
    # number
    "number.title": "Log in with BankID",
    "number.label": "National identity number (11 digits)",
    "number.placeholder": "DDMMYYXXXXX",
    "number.progress": "{count} of 11 digits",
    "number.valid": "✓ The number is valid",
    "number.enter": "Enter: log in with the BankID app · F4: code device",
    "number.digits_only": "A national identity number has digits only.",
    "number.too_long": "A national identity number has 11 digits, this has {count}.",
    "number.bad_date": "The first six digits are not a real date of birth (DDMMYY).",
    "number.synthetic": "Test numbers are not accepted at this kiosk.",
    "number.check_digits": "The last two digits do not match: please check the number.",
    "number.individual": "The number does not fit the year of birth: please check it.",
    "number.future": "The date of birth is in the future.",
    "number.incomplete": "Type all 11 digits of your number.",
    # method
    "method.title": "Choose how to log in",
    "method.app": "BankID app on my phone",
    "method.codedevice": "Code device (kodebrikke)",
    "method.help": "Use the arrow keys, then Enter.",
    # waiting
    "waiting.title": "Open the BankID app on your phone",
    "waiting.sign_title": "Approve the signing in the BankID app",
    "waiting.lead": "Check that the app shows the same reference, then choose «Ja, det er meg».",
    "waiting.no_response": "No response? Open the BankID app and turn on notifications.",
    "waiting.cancelled": "Cancelled.",
    # code device
    "code.title": "Code from your code device",
    "code.label": "Press the button on your code device and type the 6 digits",
    "code.wrong": "Wrong code. Wait for a new code and try again ({attempts} attempts left).",
    "code.incomplete": "The code has 6 digits.",
    # password
    "password.title": "Your BankID password",
    "password.lead": "Approved in the app. Type your BankID password and press Enter.",
    "password.label": "Password",
    "password.wrong": "Wrong password. You have {attempts} attempts left.",
    "password.wrong_last": "Wrong password. You have 1 attempt left before the password is locked.",
    "password.lock_warning": "After 5 wrong passwords in a row your BankID password is locked.",
    "password.empty": "Type your password.",
    "password.checking": "Checking the password …",
    # logged in: agreements
    "agreements.title": "Logged in as {name}",
    "agreements.lead": "Agreements waiting for you. Choose one with the arrow keys and press Enter to read it.",
    "agreements.none": "No agreements are waiting for you. You can log out (Escape).",
    "agreements.loading": "Fetching your agreements …",
    "agreements.pages": "{pages} pages",
    # viewer
    "viewer.loading": "Fetching the agreement …",
    "viewer.scroll": "Read to the end (PgDn, arrow keys) to sign.",
    "viewer.ready": "You have read to the end. Press F2 to sign.",
    "viewer.page": "Page {page} of {pages}",
    "viewer.sign_text": "I sign «{title}»",
    # signing
    "signing.title": "Signing «{title}»",
    "signing.approved": "Approved in the BankID app",
    "signing.password": "Checking your password",
    "signing.signing": "Signing with your BankID",
    "signing.saving": "Saving the signed agreement",
    "signing.wait": "Please wait. This takes a few seconds.",
    # receipt
    "receipt.title": "Signed",
    "receipt.lead": "You have signed the agreement. A copy is kept by the bank.",
    "receipt.what": "Agreement",
    "receipt.when": "Signed at",
    "receipt.who": "Signed by",
    "receipt.certificate": "Certificate",
    "receipt.reference": "Reference",
    "receipt.file": "Signed file",
    "receipt.checksum": "SHA-256",
    "receipt.next": "Press Enter to go back to your agreements.",
    # failures (hint codes and other trouble)
    "failed.title": "It did not go through",
    "failed.next": "Press Enter to start again.",
    "hint.outstandingTransaction": "Open the BankID app on your phone and approve the request.",
    "hint.userSign": "Approved in the app. Type your password.",
    "hint.expiredTransaction": (
        "The time ran out before the request was approved. Nothing happened. Please start again."
    ),
    "hint.userCancel": "The request was declined in the BankID app. Nothing was logged in or signed.",
    "hint.cancelled": "The request was cancelled. Nothing was logged in or signed.",
    "hint.alreadyInProgress": (
        "Another login or signing with your BankID was already going on, so both were stopped to keep you safe. "
        "Start again. If you did not start the other one, block your BankID."
    ),
    "hint.passwordLocked": (
        "Your BankID password is locked after too many wrong attempts. "
        "Ask the staff at the branch, or reset the password with your control questions."
    ),
    "hint.blocked": "This BankID is blocked. Contact the bank to get a new BankID.",
    "hint.noDevice": (
        "We found no active BankID app for this number. Check the number, activate the app, "
        "or log in with a code device."
    ),
    "hint.wrongPassword": "Wrong password.",
    "hint.signingFailed": "Something went wrong while signing. Nothing was signed. Please try again or ask the staff.",
    "hint.noCodeDevice": "No code device is registered for you. Log in with the BankID app instead.",
    "hint.codeDeviceSuspended": "Your code device is suspended after five wrong codes. Contact the bank.",
    "hint.wrongCode": "Wrong code.",
    "hint.wrongAnswers": "The answers to your control questions did not match. Nothing was changed.",
    "hint.unknown": "The request stopped ({hint}). Please start again.",
    "error.title": "Something went wrong",
    "error.unavailable": "The kiosk cannot reach the bank's BankID service right now. Please try again in a moment.",
    "error.session": "Your session has ended. Please log in again.",
    "error.signer": "The BankID service said: {reason}",
    # block
    "block.title": "Block my BankID",
    "block.lead": (
        "Block your BankID at once if your phone, code device or password may be in the wrong hands. "
        "Open logins and signings stop, and the BankID can be used for nothing until the bank gives you a new one."
    ),
    "block.label": "National identity number of the BankID to block",
    "block.confirm": "Block the BankID for {number}? This cannot be undone at the kiosk.",
    "block.done": "The BankID for {number} is blocked. Contact the bank to get a new one.",
    "block.unavailable": (
        "Blocking is not available at this kiosk yet. Call the bank's blocking service, or ask the staff."
    ),
    # dialogs
    "confirm.title": "Are you sure?",
    "admin.title": "Administrator",
    "admin.label": "Administrator PIN",
    "admin.wrong": "Wrong PIN.",
    "admin.none": "No administrator PIN is set (TILLIT_KIOSK_ADMIN_PIN). Stop the kiosk from another terminal.",
    # the demo's code device beside the kiosk
    "phone.code": "{name}'s code device: {code}",
}

NB: dict[str, str] = {
    "key.Confirm": "Bekreft",
    "key.Open": "Åpne",
    "key.Back": "Tilbake",
    "key.Sign": "Signer",
    "key.Language": "Språk",
    "key.Log in": "Logg inn",
    "key.Other method": "Annen metode",
    "key.Cancel": "Avbryt",
    "key.Log out": "Logg ut",
    "key.Block BankID": "Sperr BankID",
    "key.Start again": "Start på nytt",
    "key.Yes": "Ja",
    "key.No": "Nei",
    "key.OK": "OK",
    "key.Phone": "Telefon",
    "key.Admin": "Admin",
    "app.title": "Tillit Bank",
    "app.subtitle": "BankID",
    "common.reference": "Referanse",
    "common.expires_in": "Tid igjen: {time}",
    "common.expired": "Tiden er ute",
    "common.working": "Et øyeblikk …",
    "welcome.title": "Velkommen til Tillit Bank",
    "welcome.lead": "Logg inn med BankID for å lese og signere avtalene som venter på deg.",
    "welcome.start": "Skriv fødselsnummeret ditt (11 siffer) for å begynne.",
    "welcome.language": "Språk: {language} (F9 for å bytte)",
    "welcome.demo": "Demokunder",
    "welcome.demo_admin": "Administrator: F12, PIN {pin}",
    "welcome.demo_phone": "Telefon: Tab, så j (Ja) eller n (Nei)",
    "welcome.logged_out": "Du er logget ut. Velkommen tilbake!",
    "number.title": "Logg inn med BankID",
    "number.label": "Fødselsnummer (11 siffer)",
    "number.placeholder": "DDMMÅÅXXXXX",
    "number.progress": "{count} av 11 siffer",
    "number.valid": "✓ Nummeret er gyldig",
    "number.enter": "Enter: logg inn med BankID-appen · F4: kodebrikke",
    "number.digits_only": "Et fødselsnummer har bare siffer.",
    "number.too_long": "Et fødselsnummer har 11 siffer, dette har {count}.",
    "number.bad_date": "De seks første sifrene er ikke en gyldig fødselsdato (DDMMÅÅ).",
    "number.synthetic": "Testnummer godtas ikke på denne kiosken.",
    "number.check_digits": "De to siste sifrene stemmer ikke: kontroller nummeret.",
    "number.individual": "Nummeret passer ikke med fødselsåret: kontroller det.",
    "number.future": "Fødselsdatoen er fram i tid.",
    "number.incomplete": "Skriv alle de 11 sifrene i nummeret ditt.",
    "method.title": "Velg hvordan du vil logge inn",
    "method.app": "BankID-appen på telefonen",
    "method.codedevice": "Kodebrikke",
    "method.help": "Bruk piltastene, og trykk Enter.",
    "waiting.title": "Åpne BankID-appen på telefonen",
    "waiting.sign_title": "Godkjenn signeringen i BankID-appen",
    "waiting.lead": "Sjekk at appen viser samme referanse, og velg «Ja, det er meg».",
    "waiting.no_response": "Ingen respons? Åpne BankID-appen og slå på varsler.",
    "waiting.cancelled": "Avbrutt.",
    "code.title": "Kode fra kodebrikken",
    "code.label": "Trykk på knappen på kodebrikken og skriv de 6 sifrene",
    "code.wrong": "Feil kode. Vent på en ny kode og prøv igjen ({attempts} forsøk igjen).",
    "code.incomplete": "Koden har 6 siffer.",
    "password.title": "BankID-passordet ditt",
    "password.lead": "Godkjent i appen. Skriv BankID-passordet ditt og trykk Enter.",
    "password.label": "Passord",
    "password.wrong": "Feil passord. Du har {attempts} forsøk igjen.",
    "password.wrong_last": "Feil passord. Du har 1 forsøk igjen før passordet blir sperret.",
    "password.lock_warning": "Etter 5 feil passord på rad blir BankID-passordet sperret.",
    "password.empty": "Skriv passordet ditt.",
    "password.checking": "Sjekker passordet …",
    "agreements.title": "Logget inn som {name}",
    "agreements.lead": "Avtaler som venter på deg. Velg en med piltastene og trykk Enter for å lese den.",
    "agreements.none": "Ingen avtaler venter på deg. Du kan logge ut (Escape).",
    "agreements.loading": "Henter avtalene dine …",
    "agreements.pages": "{pages} sider",
    "viewer.loading": "Henter avtalen …",
    "viewer.scroll": "Les til slutten (PgDn, piltaster) for å signere.",
    "viewer.ready": "Du har lest til slutten. Trykk F2 for å signere.",
    "viewer.page": "Side {page} av {pages}",
    "viewer.sign_text": "Jeg signerer «{title}»",
    "signing.title": "Signerer «{title}»",
    "signing.approved": "Godkjent i BankID-appen",
    "signing.password": "Sjekker passordet ditt",
    "signing.signing": "Signerer med BankID-en din",
    "signing.saving": "Lagrer den signerte avtalen",
    "signing.wait": "Vent litt. Dette tar noen sekunder.",
    "receipt.title": "Signert",
    "receipt.lead": "Du har signert avtalen. Banken tar vare på en kopi.",
    "receipt.what": "Avtale",
    "receipt.when": "Signert",
    "receipt.who": "Signert av",
    "receipt.certificate": "Sertifikat",
    "receipt.reference": "Referanse",
    "receipt.file": "Signert fil",
    "receipt.checksum": "SHA-256",
    "receipt.next": "Trykk Enter for å gå tilbake til avtalene dine.",
    "failed.title": "Det gikk ikke",
    "failed.next": "Trykk Enter for å starte på nytt.",
    "hint.outstandingTransaction": "Åpne BankID-appen på telefonen og godkjenn forespørselen.",
    "hint.userSign": "Godkjent i appen. Skriv passordet ditt.",
    "hint.expiredTransaction": "Tiden gikk ut før forespørselen ble godkjent. Ingenting skjedde. Start på nytt.",
    "hint.userCancel": "Forespørselen ble avvist i BankID-appen. Ingenting ble logget inn eller signert.",
    "hint.cancelled": "Forespørselen ble avbrutt. Ingenting ble logget inn eller signert.",
    "hint.alreadyInProgress": (
        "En annen innlogging eller signering med BankID-en din pågikk allerede, så begge ble stoppet for å "
        "beskytte deg. Start på nytt. Hvis du ikke startet den andre, sperr BankID-en din."
    ),
    "hint.passwordLocked": (
        "BankID-passordet ditt er sperret etter for mange feil forsøk. "
        "Spør de ansatte i banken, eller lag nytt passord med kontrollspørsmålene dine."
    ),
    "hint.blocked": "Denne BankID-en er sperret. Kontakt banken for å få en ny BankID.",
    "hint.noDevice": (
        "Vi fant ingen aktiv BankID-app for dette nummeret. Kontroller nummeret, aktiver appen, "
        "eller logg inn med kodebrikke."
    ),
    "hint.wrongPassword": "Feil passord.",
    "hint.signingFailed": "Noe gikk galt under signeringen. Ingenting ble signert. Prøv igjen eller spør de ansatte.",
    "hint.noCodeDevice": "Du har ingen registrert kodebrikke. Logg inn med BankID-appen i stedet.",
    "hint.codeDeviceSuspended": "Kodebrikken din er sperret etter fem feil koder. Kontakt banken.",
    "hint.wrongCode": "Feil kode.",
    "hint.wrongAnswers": "Svarene på kontrollspørsmålene stemte ikke. Ingenting ble endret.",
    "hint.unknown": "Forespørselen stoppet ({hint}). Start på nytt.",
    "error.title": "Noe gikk galt",
    "error.unavailable": "Kiosken får ikke kontakt med bankens BankID-tjeneste akkurat nå. Prøv igjen om litt.",
    "error.session": "Økten din er avsluttet. Logg inn på nytt.",
    "error.signer": "BankID-tjenesten svarte: {reason}",
    "block.title": "Sperr BankID-en min",
    "block.lead": (
        "Sperr BankID-en med en gang hvis telefonen, kodebrikken eller passordet kan være på avveie. "
        "Pågående innlogginger og signeringer stopper, og BankID-en kan ikke brukes før banken gir deg en ny."
    ),
    "block.label": "Fødselsnummeret til BankID-en som skal sperres",
    "block.confirm": "Sperre BankID-en for {number}? Dette kan ikke angres på kiosken.",
    "block.done": "BankID-en for {number} er sperret. Kontakt banken for å få en ny.",
    "block.unavailable": (
        "Sperring er ikke tilgjengelig på denne kiosken ennå. Ring bankens sperretjeneste, eller spør de ansatte."
    ),
    "confirm.title": "Er du sikker?",
    "admin.title": "Administrator",
    "admin.label": "Administrator-PIN",
    "admin.wrong": "Feil PIN.",
    "admin.none": "Ingen administrator-PIN er satt (TILLIT_KIOSK_ADMIN_PIN). Stopp kiosken fra en annen terminal.",
    "phone.code": "Kodebrikken til {name}: {code}",
}

NN: dict[str, str] = {
    "key.Confirm": "Stadfest",
    "key.Open": "Opne",
    "key.Back": "Tilbake",
    "key.Sign": "Signer",
    "key.Language": "Språk",
    "key.Log in": "Logg inn",
    "key.Other method": "Annan metode",
    "key.Cancel": "Avbryt",
    "key.Log out": "Logg ut",
    "key.Block BankID": "Sperr BankID",
    "key.Start again": "Start på nytt",
    "key.Yes": "Ja",
    "key.No": "Nei",
    "key.OK": "OK",
    "key.Phone": "Telefon",
    "key.Admin": "Admin",
    "app.title": "Tillit Bank",
    "app.subtitle": "BankID",
    "common.reference": "Referanse",
    "common.expires_in": "Tid att: {time}",
    "common.expired": "Tida er ute",
    "common.working": "Eit augneblink …",
    "welcome.title": "Velkomen til Tillit Bank",
    "welcome.lead": "Logg inn med BankID for å lese og signere avtalane som ventar på deg.",
    "welcome.start": "Skriv fødselsnummeret ditt (11 siffer) for å byrje.",
    "welcome.language": "Språk: {language} (F9 for å byte)",
    "welcome.demo": "Demokundar",
    "welcome.demo_admin": "Administrator: F12, PIN {pin}",
    "welcome.demo_phone": "Telefon: Tab, så j (Ja) eller n (Nei)",
    "welcome.logged_out": "Du er logga ut. Velkomen tilbake!",
    "number.title": "Logg inn med BankID",
    "number.label": "Fødselsnummer (11 siffer)",
    "number.placeholder": "DDMMÅÅXXXXX",
    "number.progress": "{count} av 11 siffer",
    "number.valid": "✓ Nummeret er gyldig",
    "number.enter": "Enter: logg inn med BankID-appen · F4: kodebrikke",
    "number.digits_only": "Eit fødselsnummer har berre siffer.",
    "number.too_long": "Eit fødselsnummer har 11 siffer, dette har {count}.",
    "number.bad_date": "Dei seks første sifra er ikkje ein gyldig fødselsdato (DDMMÅÅ).",
    "number.synthetic": "Testnummer vert ikkje godtekne på denne kiosken.",
    "number.check_digits": "Dei to siste sifra stemmer ikkje: kontroller nummeret.",
    "number.individual": "Nummeret passar ikkje med fødselsåret: kontroller det.",
    "number.future": "Fødselsdatoen er fram i tid.",
    "number.incomplete": "Skriv alle dei 11 sifra i nummeret ditt.",
    "method.title": "Vel korleis du vil logge inn",
    "method.app": "BankID-appen på telefonen",
    "method.codedevice": "Kodebrikke",
    "method.help": "Bruk piltastane, og trykk Enter.",
    "waiting.title": "Opne BankID-appen på telefonen",
    "waiting.sign_title": "Godkjenn signeringa i BankID-appen",
    "waiting.lead": "Sjekk at appen viser same referanse, og vel «Ja, det er meg».",
    "waiting.no_response": "Ikkje svar? Opne BankID-appen og slå på varsel.",
    "waiting.cancelled": "Avbrote.",
    "code.title": "Kode frå kodebrikka",
    "code.label": "Trykk på knappen på kodebrikka og skriv dei 6 sifra",
    "code.wrong": "Feil kode. Vent på ein ny kode og prøv igjen ({attempts} forsøk att).",
    "code.incomplete": "Koden har 6 siffer.",
    "password.title": "BankID-passordet ditt",
    "password.lead": "Godkjent i appen. Skriv BankID-passordet ditt og trykk Enter.",
    "password.label": "Passord",
    "password.wrong": "Feil passord. Du har {attempts} forsøk att.",
    "password.wrong_last": "Feil passord. Du har 1 forsøk att før passordet vert sperra.",
    "password.lock_warning": "Etter 5 feil passord på rad vert BankID-passordet sperra.",
    "password.empty": "Skriv passordet ditt.",
    "password.checking": "Sjekkar passordet …",
    "agreements.title": "Logga inn som {name}",
    "agreements.lead": "Avtalar som ventar på deg. Vel ein med piltastane og trykk Enter for å lese han.",
    "agreements.none": "Ingen avtalar ventar på deg. Du kan logge ut (Escape).",
    "agreements.loading": "Hentar avtalane dine …",
    "agreements.pages": "{pages} sider",
    "viewer.loading": "Hentar avtalen …",
    "viewer.scroll": "Les til slutten (PgDn, piltastar) for å signere.",
    "viewer.ready": "Du har lese til slutten. Trykk F2 for å signere.",
    "viewer.page": "Side {page} av {pages}",
    "viewer.sign_text": "Eg signerer «{title}»",
    "signing.title": "Signerer «{title}»",
    "signing.approved": "Godkjent i BankID-appen",
    "signing.password": "Sjekkar passordet ditt",
    "signing.signing": "Signerer med BankID-en din",
    "signing.saving": "Lagrar den signerte avtalen",
    "signing.wait": "Vent litt. Dette tek nokre sekund.",
    "receipt.title": "Signert",
    "receipt.lead": "Du har signert avtalen. Banken tek vare på ein kopi.",
    "receipt.what": "Avtale",
    "receipt.when": "Signert",
    "receipt.who": "Signert av",
    "receipt.certificate": "Sertifikat",
    "receipt.reference": "Referanse",
    "receipt.file": "Signert fil",
    "receipt.checksum": "SHA-256",
    "receipt.next": "Trykk Enter for å gå tilbake til avtalane dine.",
    "failed.title": "Det gjekk ikkje",
    "failed.next": "Trykk Enter for å byrje på nytt.",
    "hint.outstandingTransaction": "Opne BankID-appen på telefonen og godkjenn førespurnaden.",
    "hint.userSign": "Godkjent i appen. Skriv passordet ditt.",
    "hint.expiredTransaction": "Tida gjekk ut før førespurnaden vart godkjend. Ingenting skjedde. Byrj på nytt.",
    "hint.userCancel": "Førespurnaden vart avvist i BankID-appen. Ingenting vart logga inn eller signert.",
    "hint.cancelled": "Førespurnaden vart avbroten. Ingenting vart logga inn eller signert.",
    "hint.alreadyInProgress": (
        "Ei anna innlogging eller signering med BankID-en din var alt i gang, så begge vart stoppa for å "
        "verne deg. Byrj på nytt. Dersom du ikkje starta den andre, sperr BankID-en din."
    ),
    "hint.passwordLocked": (
        "BankID-passordet ditt er sperra etter for mange feil forsøk. "
        "Spør dei tilsette i banken, eller lag nytt passord med kontrollspørsmåla dine."
    ),
    "hint.blocked": "Denne BankID-en er sperra. Kontakt banken for å få ein ny BankID.",
    "hint.noDevice": (
        "Vi fann ingen aktiv BankID-app for dette nummeret. Kontroller nummeret, aktiver appen, "
        "eller logg inn med kodebrikke."
    ),
    "hint.wrongPassword": "Feil passord.",
    "hint.signingFailed": (
        "Noko gjekk gale under signeringa. Ingenting vart signert. Prøv igjen eller spør dei tilsette."
    ),
    "hint.noCodeDevice": "Du har inga registrert kodebrikke. Logg inn med BankID-appen i staden.",
    "hint.codeDeviceSuspended": "Kodebrikka di er sperra etter fem feil kodar. Kontakt banken.",
    "hint.wrongCode": "Feil kode.",
    "hint.wrongAnswers": "Svara på kontrollspørsmåla stemde ikkje. Ingenting vart endra.",
    "hint.unknown": "Førespurnaden stoppa ({hint}). Byrj på nytt.",
    "error.title": "Noko gjekk gale",
    "error.unavailable": "Kiosken får ikkje kontakt med BankID-tenesta til banken no. Prøv igjen om litt.",
    "error.session": "Økta di er avslutta. Logg inn på nytt.",
    "error.signer": "BankID-tenesta svara: {reason}",
    "block.title": "Sperr BankID-en min",
    "block.lead": (
        "Sperr BankID-en med ein gong dersom telefonen, kodebrikka eller passordet kan vere på avvegar. "
        "Opne innloggingar og signeringar stoppar, og BankID-en kan ikkje brukast før banken gjev deg ein ny."
    ),
    "block.label": "Fødselsnummeret til BankID-en som skal sperrast",
    "block.confirm": "Sperre BankID-en for {number}? Dette kan ikkje angrast på kiosken.",
    "block.done": "BankID-en for {number} er sperra. Kontakt banken for å få ein ny.",
    "block.unavailable": (
        "Sperring er ikkje tilgjengeleg på denne kiosken enno. Ring sperretenesta til banken, eller spør dei tilsette."
    ),
    "confirm.title": "Er du sikker?",
    "admin.title": "Administrator",
    "admin.label": "Administrator-PIN",
    "admin.wrong": "Feil PIN.",
    "admin.none": "Ingen administrator-PIN er sett (TILLIT_KIOSK_ADMIN_PIN). Stopp kiosken frå ein annan terminal.",
    "phone.code": "Kodebrikka til {name}: {code}",
}

CATALOGS: dict[Language, dict[str, str]] = {"nn": NN, "nb": NB, "en": EN}


def translate(language: Language, key: str, /, **params: Any) -> str:
    text = CATALOGS[language].get(key) or EN.get(key) or key
    return text.format(**params) if params else text


def next_language(language: Language) -> Language:
    return LANGUAGES[(LANGUAGES.index(language) + 1) % len(LANGUAGES)]
