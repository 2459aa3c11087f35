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
    "key.Choose another BankID": "Choose another BankID",
    "key.Forgotten password": "Forgotten password",
    "key.Next": "Next",
    "key.Save password": "Save password",
    "key.Send": "Send",
    "key.Skip": "Skip",
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
    "welcome.demo_phone": "Phone: F8, then j (Ja) or n (Nei)",
    # the demo customers' notes on the welcome screen
    "demo.note.app": "the app →",
    "demo.note.codedevice": "code device",
    "demo.note.minor": "15, guardian approved, no app: refused",
    "demo.note.password_changed": "password changed at the kiosk",
    "welcome.logged_out": "You have been logged out. Welcome back!",
    "welcome.timed_out": "Nobody pressed a key for a while, so the kiosk started again.",
    "idle.title": "Are you still there?",
    "idle.logged_in": "You will be logged out in {seconds} s. Press any key to stay.",
    "idle.order": "The kiosk starts again in {seconds} s. Press any key to go on.",
    "order.text.auth": "Log in with BankID at the kiosk",
    "order.text.reset": "Choose a new password for BankID",
    # number
    "number.title": "Log in with BankID",
    "number.label": "National identity number (11 digits)",
    "number.placeholder": "DDMMYYXXXXX",
    "number.progress": "{count} of 11 digits",
    "number.valid": "✓ The number is valid",
    "number.enter": "Enter: log in · F4: choose how · F5: forgotten password",
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
    "method.biometric": "BankID app with biometrics or app PIN (no password)",
    "method.help": "Use the arrow keys, then Enter.",
    # waiting
    "waiting.title": "Open the BankID app on your phone",
    "waiting.sign_title": "Approve the signing in the BankID app",
    "waiting.reset_title": "Approve the new password in the BankID app",
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
    "password.lead_codedevice": "Approved with the code device. Type your BankID password and press Enter.",
    "password.lead_sign": "Approved in the app. Type your BankID password and press Enter to sign.",
    "password.label": "Password",
    "password.wrong": "Wrong password. You have {attempts} attempts left.",
    "password.wrong_last": "Wrong password. You have 1 attempt left before the password is locked.",
    "password.lock_warning": "After 5 wrong passwords in a row your BankID password is locked.",
    "password.empty": "Type your password.",
    "password.checking": "Checking the password …",
    "password.no_biometric": "Login with biometrics is not turned on in your BankID app. Type your password instead.",
    # forgotten password (control questions)
    "reset.title": "Forgotten password",
    "reset.questions_lead": "Approved in the app. Answer your control questions.",
    "reset.question.firstPet": "What was the name of your first pet?",
    "reset.question.childhoodStreet": "Which street did you live in as a child?",
    "reset.question.mothersMiddleName": "What is your mother's middle name?",
    "reset.loading": "Fetching your control questions …",
    "reset.answer_all": "Answer every question.",
    "reset.wrong_answers": "The answers did not match. You have {attempts} attempts left.",
    "reset.password_title": "Choose a new BankID password",
    "reset.password_rules": "At least 8 characters; not a common password, and not your national identity number.",
    "reset.new": "New password",
    "reset.repeat": "The new password again",
    "reset.empty": "Type the new password twice.",
    "reset.mismatch": "The two passwords are not the same. Try again.",
    "reset.saving": "Saving the new password …",
    "reset.policy_length": "The password must have at least 8 characters.",
    "reset.policy_long": "The password may have at most 256 characters.",
    "reset.policy_common": "This password is too common. Choose another.",
    "reset.policy_number": "The password must not contain your national identity number.",
    "reset.policy_other": "The new password was not accepted: {reason}",
    "reset.done_title": "Your new password is saved",
    "reset.done_lead": "Your BankID password has been changed. If it was locked, it is unlocked now.",
    "reset.done_next": "Press Enter to log in with your new password.",
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
    "viewer.read_first": "Read the agreement to the end first (PgDn, End), then press F2 to sign.",
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
    # feedback
    "feedback.title": "We would like your feedback!",
    "feedback.lead": "How was it to use BankID here today?",
    "feedback.keys": "1–5 or ← →: rating · ↓: comment",
    "feedback.rating_0": "Not chosen yet",
    "feedback.rating_1": "Very poor",
    "feedback.rating_2": "Poor",
    "feedback.rating_3": "OK",
    "feedback.rating_4": "Good",
    "feedback.rating_5": "Very good",
    "feedback.comment": "Comment (optional)",
    "feedback.choose": "Choose a rating from 1 to 5 first, or press Escape to skip.",
    "feedback.anonymous": "Your answer is stored without your name or number.",
    # failures (hint codes and other trouble)
    "failed.title": "It did not go through",
    "failed.next": "Press Enter to start again.",
    "failed.next_method": "F4: log in another way · Enter: start again",
    "failed.next_forgotten": "F5: a new password · Enter: start again",
    "failed.staff": "For the branch staff: {command}",
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
        "Your BankID password is locked after too many wrong attempts. Choose a new one with your control "
        "questions (this needs the BankID app), or ask the branch staff to unlock it."
    ),
    "hint.blocked": "This BankID is blocked. Ask the branch staff: they can give you a new BankID.",
    "hint.noDevice": (
        "We found no active BankID app for this number. Check the number, or log in with a code device. No "
        "app and no code device? Ask the branch staff."
    ),
    "hint.wrongPassword": "Wrong password.",
    "hint.reset.noDevice": (
        "A new password is approved in the BankID app, and we found no active app for this number. Ask the "
        "branch staff to unlock your password or to set a new one."
    ),
    "hint.signingFailed": "Something went wrong while signing. Nothing was signed. Please try again or ask the staff.",
    "hint.noCodeDevice": (
        "No code device is registered for you. Log in with the BankID app, or ask the branch staff for a code device."
    ),
    "hint.codeDeviceSuspended": (
        "Your code device is suspended. Log in with the BankID app, or ask the branch staff for a new code device."
    ),
    "hint.codeThrottled": "Too many wrong codes. Wait a minute, then type the next code.",
    "hint.wrongCode": "Wrong code.",
    "hint.wrongAnswers": (
        "The answers to your control questions did not match. Nothing was changed. Start again, or ask the "
        "branch staff to set a new password."
    ),
    "hint.answersLocked": (
        "Too many wrong answers to the control questions. Ask the branch staff to unlock your password or "
        "to set a new one."
    ),
    "hint.unknown": "The request stopped ({hint}). Please start again.",
    "hint.noControlQuestions": (
        "You have no control questions with the bank, so the password cannot be reset here. Ask the branch "
        "staff: they can unlock your password or set a new one."
    ),
    "error.title": "Something went wrong",
    "error.unavailable": "The kiosk cannot reach the bank's BankID service right now. Please try again in a moment.",
    "error.session": "Your session has ended. Please log in again.",
    "error.signer": "The BankID service said: {reason}",
    # the signer's error codes, in words for the customer (kiosk/app.py show_error)
    "error.code.rateLimited": "Too many attempts in a short time. Wait a minute and try again.",
    "error.code.sessionExpired": "Your session has ended. Please log in again.",
    "error.code.sessionInvalid": "Your session has ended. Please log in again.",
    "error.code.unauthorized": "This kiosk may not use the BankID service right now. Please ask the staff.",
    "error.code.forbidden": "That is not allowed here. Nothing was changed. Please ask the staff.",
    "error.code.notApproved": "The request is not approved in the BankID app yet. Approve it on your phone first.",
    "error.code.orderEnded": "The request has already ended. Nothing was changed. Please start again.",
    "error.code.conflict": "That cannot be done now: the request has already moved on. Please start again.",
    "error.code.notFound": "The BankID service could not find the request. Please start again.",
    "error.code.expired": "The time has run out. Nothing happened. Please start again.",
    "error.code.invalidParameters": (
        "The BankID service did not accept what was sent. Check what you typed and try again."
    ),
    "error.code.invalidPersonalNumber": (
        "The BankID service did not accept the national identity number. Please check it."
    ),
    "error.code.tooLarge": "The document is too large for the BankID service. Please ask the staff.",
    "error.code.hsmUnavailable": (
        "The BankID service cannot sign or check anything right now. Nothing was signed. Please try again in a moment."
    ),
    "error.code.unavailable": "The BankID service is not available right now. Please try again in a moment.",
    "error.code.noControlQuestions": (
        "You have no control questions with the bank, so the password cannot be reset here. "
        "Ask the staff at the counter: they will help you."
    ),
    "error.code.wrongAnswers": "The answers to your control questions did not match. Nothing was changed.",
    "error.code.badResponse": "The kiosk did not understand the BankID service's answer. Please ask the staff.",
    "error.code.certificateRevoked": (
        "Your BankID certificate is not valid (it has been revoked), so you cannot sign. Nothing was signed. "
        "Ask the staff at the branch to issue a new one."
    ),
    "error.code.certificateExpired": (
        "Your BankID certificate has expired, so you cannot sign. Nothing was signed. "
        "Ask the staff at the branch to issue a new one."
    ),
    "error.code.noCertificate": (
        "Your BankID has no valid certificate, so you cannot sign. Nothing was signed. "
        "Ask the staff at the branch to issue one."
    ),
    "error.code.saveFailed": "The signed agreement could not be saved at the kiosk. Please ask the staff.",
    "error.code.unreadablePdf": "The agreement cannot be shown at this kiosk. Please ask the staff.",
    # block
    "block.title": "Block my BankID",
    "block.lead": (
        "Block your BankID at once if your phone, code device or password may be in the wrong hands. "
        "Open logins and signings stop, and the BankID can be used for nothing until the bank gives you a new one."
    ),
    "block.label": "National identity number of the BankID to block",
    "block.confirm": "Block the BankID for {number}? This cannot be undone at the kiosk.",
    "block.done": "The BankID for {number} is blocked. Ask the branch staff to get a new one.",
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
    "key.Choose another BankID": "Velg en annen BankID",
    "key.Forgotten password": "Glemt passord",
    "key.Next": "Neste",
    "key.Save password": "Lagre passordet",
    "key.Send": "Send",
    "key.Skip": "Hopp over",
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
    "welcome.demo_phone": "Telefon: F8, så j (Ja) eller n (Nei)",
    "demo.note.app": "appen →",
    "demo.note.codedevice": "kodebrikke",
    "demo.note.minor": "15 år, godkjent av verge, ingen app: avvist",
    "demo.note.password_changed": "passordet er endret på kiosken",
    "welcome.logged_out": "Du er logget ut. Velkommen tilbake!",
    "welcome.timed_out": "Ingen trykket på en tast på en stund, så kiosken startet på nytt.",
    "idle.title": "Er du der fortsatt?",
    "idle.logged_in": "Du blir logget ut om {seconds} s. Trykk på en tast for å fortsette.",
    "idle.order": "Kiosken starter på nytt om {seconds} s. Trykk på en tast for å fortsette.",
    "order.text.auth": "Innlogging med BankID på kiosken",
    "order.text.reset": "Lag nytt passord for BankID",
    "number.title": "Logg inn med BankID",
    "number.label": "Fødselsnummer (11 siffer)",
    "number.placeholder": "DDMMÅÅXXXXX",
    "number.progress": "{count} av 11 siffer",
    "number.valid": "✓ Nummeret er gyldig",
    "number.enter": "Enter: logg inn · F4: velg hvordan · F5: glemt passord",
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
    "method.biometric": "BankID-appen med biometri eller app-PIN (uten passord)",
    "method.help": "Bruk piltastene, og trykk Enter.",
    "waiting.title": "Åpne BankID-appen på telefonen",
    "waiting.sign_title": "Godkjenn signeringen i BankID-appen",
    "waiting.reset_title": "Godkjenn det nye passordet i BankID-appen",
    "waiting.lead": "Sjekk at appen viser samme referanse, og velg «Ja, det er meg».",
    "waiting.no_response": "Ingen respons? Åpne BankID-appen og slå på varsler.",
    "waiting.cancelled": "Avbrutt.",
    "code.title": "Kode fra kodebrikken",
    "code.label": "Trykk på knappen på kodebrikken og skriv de 6 sifrene",
    "code.wrong": "Feil kode. Vent på en ny kode og prøv igjen ({attempts} forsøk igjen).",
    "code.incomplete": "Koden har 6 siffer.",
    "password.title": "BankID-passordet ditt",
    "password.lead": "Godkjent i appen. Skriv BankID-passordet ditt og trykk Enter.",
    "password.lead_codedevice": "Godkjent med kodebrikken. Skriv BankID-passordet ditt og trykk Enter.",
    "password.lead_sign": "Godkjent i appen. Skriv BankID-passordet ditt og trykk Enter for å signere.",
    "password.label": "Passord",
    "password.wrong": "Feil passord. Du har {attempts} forsøk igjen.",
    "password.wrong_last": "Feil passord. Du har 1 forsøk igjen før passordet blir sperret.",
    "password.lock_warning": "Etter 5 feil passord på rad blir BankID-passordet sperret.",
    "password.empty": "Skriv passordet ditt.",
    "password.checking": "Sjekker passordet …",
    "password.no_biometric": "Innlogging med biometri er ikke slått på i BankID-appen din. Skriv passordet i stedet.",
    "reset.title": "Glemt passord",
    "reset.questions_lead": "Godkjent i appen. Svar på kontrollspørsmålene dine.",
    "reset.question.firstPet": "Hva het det første kjæledyret ditt?",
    "reset.question.childhoodStreet": "I hvilken gate bodde du da du var barn?",
    "reset.question.mothersMiddleName": "Hva er mellomnavnet til moren din?",
    "reset.loading": "Henter kontrollspørsmålene …",
    "reset.answer_all": "Svar på alle spørsmålene.",
    "reset.wrong_answers": "Svarene stemte ikke. Du har {attempts} forsøk igjen.",
    "reset.password_title": "Velg et nytt BankID-passord",
    "reset.password_rules": "Minst 8 tegn; ikke et vanlig passord, og ikke fødselsnummeret ditt.",
    "reset.new": "Nytt passord",
    "reset.repeat": "Det nye passordet en gang til",
    "reset.empty": "Skriv det nye passordet to ganger.",
    "reset.mismatch": "De to passordene er ikke like. Prøv igjen.",
    "reset.saving": "Lagrer det nye passordet …",
    "reset.policy_length": "Passordet må ha minst 8 tegn.",
    "reset.policy_long": "Passordet kan ha høyst 256 tegn.",
    "reset.policy_common": "Dette passordet er for vanlig. Velg et annet.",
    "reset.policy_number": "Passordet kan ikke inneholde fødselsnummeret ditt.",
    "reset.policy_other": "Det nye passordet ble ikke godtatt: {reason}",
    "reset.done_title": "Det nye passordet er lagret",
    "reset.done_lead": "BankID-passordet ditt er endret. Var det sperret, er det åpnet igjen nå.",
    "reset.done_next": "Trykk Enter for å logge inn med det nye passordet.",
    "agreements.title": "Logget inn som {name}",
    "agreements.lead": "Avtaler som venter på deg. Velg en med piltastene og trykk Enter for å lese den.",
    "agreements.none": "Ingen avtaler venter på deg. Du kan logge ut (Escape).",
    "agreements.loading": "Henter avtalene dine …",
    "agreements.pages": "{pages} sider",
    "viewer.loading": "Henter avtalen …",
    "viewer.scroll": "Les til slutten (PgDn, piltaster) for å signere.",
    "viewer.ready": "Du har lest til slutten. Trykk F2 for å signere.",
    "viewer.read_first": "Les avtalen til slutten først (PgDn, End), og trykk så F2 for å signere.",
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
    "feedback.title": "Vi ønsker din tilbakemelding!",
    "feedback.lead": "Hvordan var det å bruke BankID her i dag?",
    "feedback.keys": "1–5 eller ← →: karakter · ↓: kommentar",
    "feedback.rating_0": "Ikke valgt ennå",
    "feedback.rating_1": "Svært dårlig",
    "feedback.rating_2": "Dårlig",
    "feedback.rating_3": "Greit",
    "feedback.rating_4": "Bra",
    "feedback.rating_5": "Svært bra",
    "feedback.comment": "Kommentar (valgfri)",
    "feedback.choose": "Velg en karakter fra 1 til 5 først, eller trykk Escape for å hoppe over.",
    "feedback.anonymous": "Svaret ditt lagres uten navn og fødselsnummer.",
    "failed.title": "Det gikk ikke",
    "failed.next": "Trykk Enter for å starte på nytt.",
    "failed.next_method": "F4: logg inn på en annen måte · Enter: start på nytt",
    "failed.next_forgotten": "F5: nytt passord · Enter: start på nytt",
    "failed.staff": "For de ansatte i banken: {command}",
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
        "BankID-passordet ditt er sperret etter for mange feil forsøk. Lag et nytt med kontrollspørsmålene "
        "dine (det krever BankID-appen), eller be de ansatte i banken om å åpne det."
    ),
    "hint.blocked": "Denne BankID-en er sperret. Spør de ansatte i banken: de kan gi deg en ny BankID.",
    "hint.noDevice": (
        "Vi fant ingen aktiv BankID-app for dette nummeret. Kontroller nummeret, eller logg inn med "
        "kodebrikke. Ingen app og ingen kodebrikke? Spør de ansatte i banken."
    ),
    "hint.wrongPassword": "Feil passord.",
    "hint.reset.noDevice": (
        "Et nytt passord godkjennes i BankID-appen, og vi fant ingen aktiv app for dette nummeret. Be de "
        "ansatte i banken om å åpne passordet eller lage et nytt."
    ),
    "hint.signingFailed": "Noe gikk galt under signeringen. Ingenting ble signert. Prøv igjen eller spør de ansatte.",
    "hint.noCodeDevice": (
        "Du har ingen registrert kodebrikke. Logg inn med BankID-appen, eller be de ansatte i banken om en kodebrikke."
    ),
    "hint.codeDeviceSuspended": (
        "Kodebrikken din er sperret. Logg inn med BankID-appen, eller be de ansatte i banken om en ny kodebrikke."
    ),
    "hint.codeThrottled": "For mange feil koder. Vent et minutt, og skriv så neste kode.",
    "hint.wrongCode": "Feil kode.",
    "hint.wrongAnswers": (
        "Svarene på kontrollspørsmålene stemte ikke. Ingenting ble endret. Start på nytt, eller be de "
        "ansatte i banken om et nytt passord."
    ),
    "hint.answersLocked": (
        "For mange feil svar på kontrollspørsmålene. Be de ansatte i banken om å åpne passordet eller lage et nytt."
    ),
    "hint.unknown": "Forespørselen stoppet ({hint}). Start på nytt.",
    "hint.noControlQuestions": (
        "Du har ingen kontrollspørsmål hos banken, så passordet kan ikke lages på nytt her. Spør de ansatte "
        "i banken: de kan åpne passordet eller lage et nytt."
    ),
    "error.title": "Noe gikk galt",
    "error.unavailable": "Kiosken får ikke kontakt med bankens BankID-tjeneste akkurat nå. Prøv igjen om litt.",
    "error.session": "Økten din er avsluttet. Logg inn på nytt.",
    "error.signer": "BankID-tjenesten svarte: {reason}",
    "error.code.rateLimited": "For mange forsøk på kort tid. Vent et minutt og prøv igjen.",
    "error.code.sessionExpired": "Økten din er avsluttet. Logg inn på nytt.",
    "error.code.sessionInvalid": "Økten din er avsluttet. Logg inn på nytt.",
    "error.code.unauthorized": "Denne kiosken får ikke bruke BankID-tjenesten nå. Spør de ansatte.",
    "error.code.forbidden": "Det er ikke tillatt her. Ingenting ble endret. Spør de ansatte.",
    "error.code.notApproved": "Forespørselen er ikke godkjent i BankID-appen ennå. Godkjenn den på telefonen først.",
    "error.code.orderEnded": "Forespørselen er allerede avsluttet. Ingenting ble endret. Start på nytt.",
    "error.code.conflict": "Det går ikke nå: forespørselen har allerede gått videre. Start på nytt.",
    "error.code.notFound": "BankID-tjenesten fant ikke forespørselen. Start på nytt.",
    "error.code.expired": "Tiden er ute. Ingenting skjedde. Start på nytt.",
    "error.code.invalidParameters": (
        "BankID-tjenesten godtok ikke det som ble sendt. Sjekk det du skrev, og prøv igjen."
    ),
    "error.code.invalidPersonalNumber": "BankID-tjenesten godtok ikke fødselsnummeret. Kontroller det.",
    "error.code.tooLarge": "Dokumentet er for stort for BankID-tjenesten. Spør de ansatte.",
    "error.code.hsmUnavailable": (
        "BankID-tjenesten kan ikke signere eller sjekke noe akkurat nå. Ingenting ble signert. Prøv igjen om litt."
    ),
    "error.code.unavailable": "BankID-tjenesten er ikke tilgjengelig akkurat nå. Prøv igjen om litt.",
    "error.code.noControlQuestions": (
        "Du har ingen kontrollspørsmål hos banken, så passordet kan ikke lages på nytt her. "
        "Spør de ansatte ved skranken: de hjelper deg."
    ),
    "error.code.wrongAnswers": "Svarene på kontrollspørsmålene stemte ikke. Ingenting ble endret.",
    "error.code.badResponse": "Kiosken forsto ikke svaret fra BankID-tjenesten. Spør de ansatte.",
    "error.code.certificateRevoked": (
        "BankID-sertifikatet ditt er ikke gyldig (det er tilbakekalt), så du kan ikke signere. Ingenting ble "
        "signert. Be de ansatte i banken om å utstede et nytt."
    ),
    "error.code.certificateExpired": (
        "BankID-sertifikatet ditt er utløpt, så du kan ikke signere. Ingenting ble signert. "
        "Be de ansatte i banken om å utstede et nytt."
    ),
    "error.code.noCertificate": (
        "BankID-en din har ikke noe gyldig sertifikat, så du kan ikke signere. Ingenting ble signert. "
        "Be de ansatte i banken om å utstede et."
    ),
    "error.code.saveFailed": "Den signerte avtalen kunne ikke lagres på kiosken. Spør de ansatte.",
    "error.code.unreadablePdf": "Avtalen kan ikke vises på denne kiosken. Spør de ansatte.",
    "block.title": "Sperr BankID-en min",
    "block.lead": (
        "Sperr BankID-en med en gang hvis telefonen, kodebrikken eller passordet kan være på avveie. "
        "Pågående innlogginger og signeringer stopper, og BankID-en kan ikke brukes før banken gir deg en ny."
    ),
    "block.label": "Fødselsnummeret til BankID-en som skal sperres",
    "block.confirm": "Sperre BankID-en for {number}? Dette kan ikke angres på kiosken.",
    "block.done": "BankID-en for {number} er sperret. Spør de ansatte i banken for å få en ny.",
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
    "key.Choose another BankID": "Vel annan BankID",
    "key.Forgotten password": "Gløymt passord",
    "key.Next": "Neste",
    "key.Save password": "Lagre passordet",
    "key.Send": "Send",
    "key.Skip": "Hopp over",
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
    "welcome.demo_phone": "Telefon: F8, så j (Ja) eller n (Nei)",
    "demo.note.app": "appen →",
    "demo.note.codedevice": "kodebrikke",
    "demo.note.minor": "15 år, godkjend av verje, ingen app: avvist",
    "demo.note.password_changed": "passordet er endra på kiosken",
    "welcome.logged_out": "Du er logga ut. Velkomen tilbake!",
    "welcome.timed_out": "Ingen trykte på ein tast på ei stund, så kiosken byrja på nytt.",
    "idle.title": "Er du der framleis?",
    "idle.logged_in": "Du vert logga ut om {seconds} s. Trykk på ein tast for å halde fram.",
    "idle.order": "Kiosken byrjar på nytt om {seconds} s. Trykk på ein tast for å halde fram.",
    "order.text.auth": "Innlogging med BankID på kiosken",
    "order.text.reset": "Lag nytt passord for BankID",
    "number.title": "Logg inn med BankID",
    "number.label": "Fødselsnummer (11 siffer)",
    "number.placeholder": "DDMMÅÅXXXXX",
    "number.progress": "{count} av 11 siffer",
    "number.valid": "✓ Nummeret er gyldig",
    "number.enter": "Enter: logg inn · F4: vel korleis · F5: gløymt passord",
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
    "method.biometric": "BankID-appen med biometri eller app-PIN (utan passord)",
    "method.help": "Bruk piltastane, og trykk Enter.",
    "waiting.title": "Opne BankID-appen på telefonen",
    "waiting.sign_title": "Godkjenn signeringa i BankID-appen",
    "waiting.reset_title": "Godkjenn det nye passordet i BankID-appen",
    "waiting.lead": "Sjekk at appen viser same referanse, og vel «Ja, det er meg».",
    "waiting.no_response": "Ikkje svar? Opne BankID-appen og slå på varsel.",
    "waiting.cancelled": "Avbrote.",
    "code.title": "Kode frå kodebrikka",
    "code.label": "Trykk på knappen på kodebrikka og skriv dei 6 sifra",
    "code.wrong": "Feil kode. Vent på ein ny kode og prøv igjen ({attempts} forsøk att).",
    "code.incomplete": "Koden har 6 siffer.",
    "password.title": "BankID-passordet ditt",
    "password.lead": "Godkjent i appen. Skriv BankID-passordet ditt og trykk Enter.",
    "password.lead_codedevice": "Godkjent med kodebrikka. Skriv BankID-passordet ditt og trykk Enter.",
    "password.lead_sign": "Godkjent i appen. Skriv BankID-passordet ditt og trykk Enter for å signere.",
    "password.label": "Passord",
    "password.wrong": "Feil passord. Du har {attempts} forsøk att.",
    "password.wrong_last": "Feil passord. Du har 1 forsøk att før passordet vert sperra.",
    "password.lock_warning": "Etter 5 feil passord på rad vert BankID-passordet sperra.",
    "password.empty": "Skriv passordet ditt.",
    "password.checking": "Sjekkar passordet …",
    "password.no_biometric": "Innlogging med biometri er ikkje slått på i BankID-appen din. Skriv passordet i staden.",
    "reset.title": "Gløymt passord",
    "reset.questions_lead": "Godkjent i appen. Svar på kontrollspørsmåla dine.",
    "reset.question.firstPet": "Kva heitte det første kjæledyret ditt?",
    "reset.question.childhoodStreet": "I kva gate budde du då du var barn?",
    "reset.question.mothersMiddleName": "Kva er mellomnamnet til mor di?",
    "reset.loading": "Hentar kontrollspørsmåla …",
    "reset.answer_all": "Svar på alle spørsmåla.",
    "reset.wrong_answers": "Svara stemde ikkje. Du har {attempts} forsøk att.",
    "reset.password_title": "Vel eit nytt BankID-passord",
    "reset.password_rules": "Minst 8 teikn; ikkje eit vanleg passord, og ikkje fødselsnummeret ditt.",
    "reset.new": "Nytt passord",
    "reset.repeat": "Det nye passordet ein gong til",
    "reset.empty": "Skriv det nye passordet to gonger.",
    "reset.mismatch": "Dei to passorda er ikkje like. Prøv igjen.",
    "reset.saving": "Lagrar det nye passordet …",
    "reset.policy_length": "Passordet må ha minst 8 teikn.",
    "reset.policy_long": "Passordet kan ha høgst 256 teikn.",
    "reset.policy_common": "Dette passordet er for vanleg. Vel eit anna.",
    "reset.policy_number": "Passordet kan ikkje innehalde fødselsnummeret ditt.",
    "reset.policy_other": "Det nye passordet vart ikkje godteke: {reason}",
    "reset.done_title": "Det nye passordet er lagra",
    "reset.done_lead": "BankID-passordet ditt er endra. Var det sperra, er det opna att no.",
    "reset.done_next": "Trykk Enter for å logge inn med det nye passordet.",
    "agreements.title": "Logga inn som {name}",
    "agreements.lead": "Avtalar som ventar på deg. Vel ein med piltastane og trykk Enter for å lese han.",
    "agreements.none": "Ingen avtalar ventar på deg. Du kan logge ut (Escape).",
    "agreements.loading": "Hentar avtalane dine …",
    "agreements.pages": "{pages} sider",
    "viewer.loading": "Hentar avtalen …",
    "viewer.scroll": "Les til slutten (PgDn, piltastar) for å signere.",
    "viewer.ready": "Du har lese til slutten. Trykk F2 for å signere.",
    "viewer.read_first": "Les avtalen til slutten først (PgDn, End), og trykk så F2 for å signere.",
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
    "feedback.title": "Me ynskjer di tilbakemelding!",
    "feedback.lead": "Korleis var det å bruke BankID her i dag?",
    "feedback.keys": "1–5 eller ← →: karakter · ↓: kommentar",
    "feedback.rating_0": "Ikkje vald enno",
    "feedback.rating_1": "Svært dårleg",
    "feedback.rating_2": "Dårleg",
    "feedback.rating_3": "Greitt",
    "feedback.rating_4": "Bra",
    "feedback.rating_5": "Svært bra",
    "feedback.comment": "Kommentar (valfri)",
    "feedback.choose": "Vel ein karakter frå 1 til 5 først, eller trykk Escape for å hoppe over.",
    "feedback.anonymous": "Svaret ditt vert lagra utan namn og fødselsnummer.",
    "failed.title": "Det gjekk ikkje",
    "failed.next": "Trykk Enter for å byrje på nytt.",
    "failed.next_method": "F4: logg inn på ein annan måte · Enter: byrj på nytt",
    "failed.next_forgotten": "F5: nytt passord · Enter: byrj på nytt",
    "failed.staff": "For dei tilsette i banken: {command}",
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
        "BankID-passordet ditt er sperra etter for mange feil forsøk. Lag eit nytt med kontrollspørsmåla "
        "dine (det krev BankID-appen), eller be dei tilsette i banken om å opne det."
    ),
    "hint.blocked": "Denne BankID-en er sperra. Spør dei tilsette i banken: dei kan gje deg ein ny BankID.",
    "hint.noDevice": (
        "Vi fann ingen aktiv BankID-app for dette nummeret. Kontroller nummeret, eller logg inn med "
        "kodebrikke. Ingen app og inga kodebrikke? Spør dei tilsette i banken."
    ),
    "hint.wrongPassword": "Feil passord.",
    "hint.reset.noDevice": (
        "Eit nytt passord vert godkjent i BankID-appen, og vi fann ingen aktiv app for dette nummeret. Be "
        "dei tilsette i banken om å opne passordet eller lage eit nytt."
    ),
    "hint.signingFailed": (
        "Noko gjekk gale under signeringa. Ingenting vart signert. Prøv igjen eller spør dei tilsette."
    ),
    "hint.noCodeDevice": (
        "Du har inga registrert kodebrikke. Logg inn med BankID-appen, eller be dei tilsette i banken om ei kodebrikke."
    ),
    "hint.codeDeviceSuspended": (
        "Kodebrikka di er sperra. Logg inn med BankID-appen, eller be dei tilsette i banken om ei ny kodebrikke."
    ),
    "hint.codeThrottled": "For mange feil kodar. Vent eit minutt, og skriv så neste kode.",
    "hint.wrongCode": "Feil kode.",
    "hint.wrongAnswers": (
        "Svara på kontrollspørsmåla stemde ikkje. Ingenting vart endra. Byrj på nytt, eller be dei tilsette "
        "i banken om eit nytt passord."
    ),
    "hint.answersLocked": (
        "For mange feil svar på kontrollspørsmåla. Be dei tilsette i banken om å opne passordet eller lage eit nytt."
    ),
    "hint.unknown": "Førespurnaden stoppa ({hint}). Byrj på nytt.",
    "hint.noControlQuestions": (
        "Du har ingen kontrollspørsmål hos banken, så passordet kan ikkje lagast på nytt her. Spør dei "
        "tilsette i banken: dei kan opne passordet eller lage eit nytt."
    ),
    "error.title": "Noko gjekk gale",
    "error.unavailable": "Kiosken får ikkje kontakt med BankID-tenesta til banken no. Prøv igjen om litt.",
    "error.session": "Økta di er avslutta. Logg inn på nytt.",
    "error.signer": "BankID-tenesta svara: {reason}",
    "error.code.rateLimited": "For mange forsøk på kort tid. Vent eit minutt og prøv igjen.",
    "error.code.sessionExpired": "Økta di er avslutta. Logg inn på nytt.",
    "error.code.sessionInvalid": "Økta di er avslutta. Logg inn på nytt.",
    "error.code.unauthorized": "Denne kiosken får ikkje bruke BankID-tenesta no. Spør dei tilsette.",
    "error.code.forbidden": "Det er ikkje tillate her. Ingenting vart endra. Spør dei tilsette.",
    "error.code.notApproved": "Førespurnaden er ikkje godkjend i BankID-appen enno. Godkjenn han på telefonen først.",
    "error.code.orderEnded": "Førespurnaden er alt avslutta. Ingenting vart endra. Byrj på nytt.",
    "error.code.conflict": "Det går ikkje no: førespurnaden har alt gått vidare. Byrj på nytt.",
    "error.code.notFound": "BankID-tenesta fann ikkje førespurnaden. Byrj på nytt.",
    "error.code.expired": "Tida er ute. Ingenting skjedde. Byrj på nytt.",
    "error.code.invalidParameters": (
        "BankID-tenesta godtok ikkje det som vart sendt. Sjekk det du skreiv, og prøv igjen."
    ),
    "error.code.invalidPersonalNumber": "BankID-tenesta godtok ikkje fødselsnummeret. Kontroller det.",
    "error.code.tooLarge": "Dokumentet er for stort for BankID-tenesta. Spør dei tilsette.",
    "error.code.hsmUnavailable": (
        "BankID-tenesta kan ikkje signere eller sjekke noko akkurat no. Ingenting vart signert. Prøv igjen om litt."
    ),
    "error.code.unavailable": "BankID-tenesta er ikkje tilgjengeleg akkurat no. Prøv igjen om litt.",
    "error.code.noControlQuestions": (
        "Du har ingen kontrollspørsmål hos banken, så passordet kan ikkje lagast på nytt her. "
        "Spør dei tilsette ved skranken: dei hjelper deg."
    ),
    "error.code.wrongAnswers": "Svara på kontrollspørsmåla stemde ikkje. Ingenting vart endra.",
    "error.code.badResponse": "Kiosken forstod ikkje svaret frå BankID-tenesta. Spør dei tilsette.",
    "error.code.certificateRevoked": (
        "BankID-sertifikatet ditt er ikkje gyldig (det er tilbakekalla), så du kan ikkje signere. Ingenting vart "
        "signert. Be dei tilsette i banken om å lage eit nytt."
    ),
    "error.code.certificateExpired": (
        "BankID-sertifikatet ditt har gått ut, så du kan ikkje signere. Ingenting vart signert. "
        "Be dei tilsette i banken om å lage eit nytt."
    ),
    "error.code.noCertificate": (
        "BankID-en din har ikkje noko gyldig sertifikat, så du kan ikkje signere. Ingenting vart signert. "
        "Be dei tilsette i banken om å lage eit."
    ),
    "error.code.saveFailed": "Den signerte avtalen kunne ikkje lagrast på kiosken. Spør dei tilsette.",
    "error.code.unreadablePdf": "Avtalen kan ikkje visast på denne kiosken. Spør dei tilsette.",
    "block.title": "Sperr BankID-en min",
    "block.lead": (
        "Sperr BankID-en med ein gong dersom telefonen, kodebrikka eller passordet kan vere på avvegar. "
        "Opne innloggingar og signeringar stoppar, og BankID-en kan ikkje brukast før banken gjev deg ein ny."
    ),
    "block.label": "Fødselsnummeret til BankID-en som skal sperrast",
    "block.confirm": "Sperre BankID-en for {number}? Dette kan ikkje angrast på kiosken.",
    "block.done": "BankID-en for {number} er sperra. Spør dei tilsette i banken for å få ein ny.",
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
