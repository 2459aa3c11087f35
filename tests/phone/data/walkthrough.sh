# The tester's walkthrough from README.md, word for word, made runnable by a script: the activation runs
# in the background reading its answers from a fifo, which this script fills from the outbox; the
# "curl ..." placeholders are spelled out. Run by tests/phone/test_walkthrough.py on a fresh home.
set -euo pipefail

export TILLIT_HOME=$(mktemp -d) TILLIT_ALLOW_TEST_NUMBERS=1
tillit-hsm init && tillit-hsm ca init
tillit-signer kiosks add --name "Bergen sentrum" > kiosk.token      # the bearer token, once
printf 'Fjord-Hest-2024\n' | tillit-signer customers add --personal-number 13897248098 \
    --name "Kari Nordmann" --mobile +4791234567 --email kari@example.no --password-stdin
tillit-signer serve --host 127.0.0.1 --port 8700 &
signer=$!
trap 'kill $signer 2>/dev/null || true; wait $signer 2>/dev/null || true' EXIT
export TILLIT_PHONE_PIN=2580                                # the app PIN (else prompted)
mkfifo answers
tillit-phone --profile kari activate --server http://127.0.0.1:8700 \
    --personal-number 13897248098 --method sms-email < answers &
activation=$!
exec 3> answers
    # sends the codes, then prompts: SMS code, e-mail code, BankID password
until [ "$(tillit-signer outbox list --json | python -c 'import json, sys; print(len(json.load(sys.stdin)))')" -ge 2 ]; do
    sleep 0.2
done
tillit-signer outbox list --json > outbox.json                             # where a tester reads the codes
code() {
    python -c 'import json, re, sys
print([re.search(r"\d{6}", m["body"]).group() for m in json.load(open("outbox.json")) if m["channel"] == sys.argv[1]][-1])' "$1"
}
printf '%s\n%s\n%s\n' "$(code sms)" "$(code email)" 'Fjord-Hest-2024' >&3
exec 3>&-
wait $activation
curl -s -H "Authorization: Bearer $(cat kiosk.token)" -H 'Content-Type: application/json' \
    -d '{"personalNumber":"13897248098"}' http://127.0.0.1:8700/v1/auth > order.json   # -> orderRef
ref=$(python -c 'import json; print(json.load(open("order.json"))["orderRef"])')
tillit-phone --profile kari approve --wait 10                # "Ja, det er meg"
# The body on standard input (printf is the shell's own): a password never goes on a command line.
printf '{"orderRef":"%s","password":"Fjord-Hest-2024"}' "$ref" | curl -s -H "Authorization: Bearer $(cat kiosk.token)" \
    -H 'Content-Type: application/json' --data-binary @- http://127.0.0.1:8700/v1/password > password.json
curl -s -H "Authorization: Bearer $(cat kiosk.token)" -H 'Content-Type: application/json' \
    -d "{\"orderRef\":\"$ref\"}" http://127.0.0.1:8700/v1/collect > collect.json   # -> status complete
