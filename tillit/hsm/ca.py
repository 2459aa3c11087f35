"""A certificate authority whose keys live in the token: root, issuing CA, OCSP responder
and timestamping unit.

Certificates are built with asn1crypto (contents from `cert_profiles`), their to-be-signed part
signed in the HSM. Beside it: the ledger of issued and revoked certificates (`ca_ledger`, in
TILLIT_HOME or the signer's PostgreSQL), CRLs (`crl_issuer`), the OCSP responder (`ocsp_responder`),
each built here and reached through `CertificateAuthority`.

The chain validates end to end with revocation checking: the issuing CA's certificate names the
root's CRL and the root's certificate (DER) under the public URL given to `init`, which must be the
signer's (`tillit-hsm ca init --public-url`, by default the signer's own setting). A CA made before
these pointers keeps its issuing CA certificate without them; its customers' new certificates get
the new profile, its OCSP responder a short-lived certificate at the daemon's next start.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from datetime import datetime, timedelta

from asn1crypto import keys, pem, x509
from cryptography.hazmat.primitives import serialization

from tillit.hsm import errors
from tillit.hsm.ca_ledger import CaLedger, IssuedCertificate
from tillit.hsm.ca_ledger_open import in_postgresql, open_ledger
from tillit.hsm.cert_profiles import (
    ETSI_NCP_OID,
    OCSP_CERTIFICATE_LIFETIME,
    REVOCATION_REASONS,
    TILLIT_POLICY_OID,
    ca_extensions,
    extension,
    key_identifier,
    natural_person_name,
    natural_person_semantics,
    new_serial,
    now_seconds,
    ocsp_certificate_renewal_due,
    organisation_name,
    revocation_reason,
    signature_algorithm,
    uri,
)
from tillit.hsm.client import Hsm
from tillit.hsm.crl_issuer import CrlIssuer
from tillit.hsm.keys import Algorithm
from tillit.hsm.ocsp_responder import OcspResponder

ROOT_LABEL = "tillit-root-ca"
ISSUING_LABEL = "tillit-issuing-ca"
OCSP_LABEL = "tillit-ocsp"
TSA_LABEL = "tillit-tsa"
LEDGER_LABEL = "tillit-ca-ledger"
"""A record on the token saying where its CA's ledger is, once that is PostgreSQL (`for_home`)."""
SHARED_LEDGER = b"postgresql"


def ca_on_token(hsm: Hsm) -> bool:
    """Whether the token holds a CA (`init` made it), from the token alone."""
    return hsm.certificate(ISSUING_LABEL) is not None


# The signer's public URL when neither TILLIT_PUBLIC_URL nor host and port say otherwise.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8700"
# Where, under the public URL, the root's CRL is (named by the issuing CA's certificate).
_ROOT_CRL_PATH = "/v1/crl/root"


# Once the root's or the TSA's certificate ends within this, it is time for `renew`: an archive
# timestamp made after that is good for less than a year (`tillit-hsm ca status`, and `serve` warns).
RENEW_WITHIN = timedelta(days=365)

# `renew`'s longest lifetime for the CA: the root's key would then be in use for decades, and
# keeping a key longer is a re-keying's job, not a renewal's.
MAX_CA_YEARS = 30
# The issuing CA's extensions that point at the root's CRL and certificate, kept by `renew`.
_POINTERS = {"crl_distribution_points", "authority_information_access"}

# The longest common name X.509 allows (RFC 5280 appendix A, ub-common-name), less " Issuing CA".
_ORGANISATION_MAX = 64 - len(" Issuing CA")


def check_organisation(organisation: str) -> None:
    """HsmError unless `organisation` can name the CAs ("<organisation> Root CA"): not blank, no
    blanks around it, printable, at most `_ORGANISATION_MAX` characters."""
    if not organisation.strip():
        raise errors.HsmError("the organisation is blank: give --organisation the name the CAs are to carry")
    if organisation != organisation.strip() or not organisation.isprintable():
        raise errors.HsmError(f"the organisation {organisation!r} has blanks around it or control characters")
    if len(organisation) > _ORGANISATION_MAX:
        raise errors.HsmError(f"the organisation is longer than {_ORGANISATION_MAX} characters")


# Browsers and Apple's platforms refuse a TLS server certificate valid for longer.
MAX_SERVER_CERTIFICATE_DAYS = 825

# A DNS name as RFC 1123 allows a host's (letters, digits and hyphens, not at a label's ends; at
# most 63 characters a label), optionally a wildcard's "*." in front.
_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def server_name(host: str) -> dict[str, str]:
    """`host` as a subjectAltName entry: {"ip_address": ...} for an IP address, else
    {"dns_name": ...}; ValueError (naming it) for anything that is neither."""
    try:
        return {"ip_address": str(ipaddress.ip_address(host))}
    except ValueError:
        pass
    labels = host.removeprefix("*.").split(".")
    if len(host) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"'{host}' is neither a DNS name nor an IP address")
    return {"dns_name": host}


def check_server_days(days: int, purpose: str = "server_auth") -> None:
    """ValueError unless a TLS certificate may live `days` days: at least one, and for a server's at
    most `MAX_SERVER_CERTIFICATE_DAYS`."""
    if days < 1:
        raise ValueError(f"a certificate lives at least 1 day, not {days}")
    if purpose == "server_auth" and days > MAX_SERVER_CERTIFICATE_DAYS:
        raise ValueError(
            f"a server certificate lives at most {MAX_SERVER_CERTIFICATE_DAYS} days (clients refuse longer), not {days}"
        )


def _tsa_label(generation: int) -> str:
    """The label of the `generation`th TSA key: `TSA_LABEL`, then `tillit-tsa-2`, `-3`, ..."""
    return TSA_LABEL if generation == 1 else f"{TSA_LABEL}-{generation}"


def _check_years(years: int) -> None:
    """HsmError unless `years` is a lifetime `renew` and `rekey_tsa` give: 1 to `MAX_CA_YEARS`."""
    if not 1 <= years <= MAX_CA_YEARS:
        raise errors.HsmError(f"--years must be between 1 and {MAX_CA_YEARS}, not {years}")


def certificate_time(moment: datetime) -> x509.Time:
    """`moment` as RFC 5280 4.1.2.5 says a certificate gives it: UTCTime through 2049,
    GeneralizedTime from 2050 on."""
    if moment.year < 2050:
        return x509.Time({"utc_time": moment})
    return x509.Time({"general_time": moment})


def status_pointers(base: str) -> list[x509.Extension]:
    """Where, under the signer's public URL `base`, a certificate by the issuing CA has its status
    (the CRL, OCSP) and its issuer's certificate."""
    return [
        extension(
            "crl_distribution_points",
            # GeneralNames (a SEQUENCE OF a CHOICE) takes no native dicts: build the GeneralName.
            [{"distribution_point": {"full_name": [uri(f"{base}/v1/crl")]}}],
        ),
        extension(
            "authority_information_access",
            [
                {"access_method": "ocsp", "access_location": uri(f"{base}/v1/ocsp")},
                {"access_method": "ca_issuers", "access_location": uri(f"{base}/v1/ca/issuing.cer")},
            ],
        ),
    ]


class CertificateAuthority:
    """Root CA -> issuing CA -> customers' (and the daemon's) certificates, and the OCSP responder.

    Where relying parties find what they need (RFC 5280 4.2.1.13, 4.2.2.1), under the public URL:
    the issuing CA's certificate names the root's CRL (`/v1/crl/root`) and the root's certificate in
    DER (`/v1/ca/root.cer`); a customer's names the issuing CA's CRL (`/v1/crl`), OCSP (`/v1/ocsp`)
    and the issuing CA's certificate in DER (`/v1/ca/issuing.cer`).
    """

    def __init__(self, hsm: Hsm, ledger: CaLedger) -> None:
        self.hsm = hsm
        self.ledger = ledger
        self._cache: dict[str, x509.Certificate] = {}
        self._renewal_lock = threading.Lock()
        self.crls = CrlIssuer(hsm, ledger, self._load, ROOT_LABEL, ISSUING_LABEL)
        self.ocsp = OcspResponder(hsm, ledger, self.issuing_certificate, self.ocsp_certificate, OCSP_LABEL)

    @classmethod
    def for_home(cls, hsm: Hsm) -> CertificateAuthority:
        """The CA over `hsm`, its ledger where the settings say (`ca_ledger_open.open_ledger`).

        The token remembers that its CA's ledger moved to PostgreSQL (the record `LEDGER_LABEL`,
        written the first time one is used), and a command given no PostgreSQL URL then refuses to
        open the home's ca.db: a machine whose TILLIT_DATABASE_URL is missing would otherwise sign
        CRLs and OCSP answers from a ledger without the revocations made elsewhere."""
        if not in_postgresql(hsm.settings.database_url) and ca_on_token(hsm):
            marker = hsm.read_record(LEDGER_LABEL)
            if marker is not None and marker.payload == SHARED_LEDGER:
                raise errors.HsmError(
                    "this token's CA keeps its ledger in PostgreSQL: set TILLIT_DATABASE_URL to that database"
                    f" (the CA ledger in {hsm.settings.home} lacks what was issued and revoked there)"
                )
        ca = cls(hsm, open_ledger(hsm.settings.home, hsm.settings.database_url))
        ca._remember_ledger()
        return ca

    def _remember_ledger(self) -> None:
        """With a PostgreSQL ledger and a CA on the token: the token's record says so (`for_home`)."""
        if in_postgresql(self.hsm.settings.database_url) and self.initialised:
            self.hsm.advance_record(LEDGER_LABEL, 1, SHARED_LEDGER)  # once: nothing when it is there

    # -- setup ---------------------------------------------------------------------------------

    @property
    def initialised(self) -> bool:
        return ca_on_token(self.hsm)

    @property
    def public_url(self) -> str | None:
        """The signer's public URL this CA was made with, read back from where `init` wrote it (the
        issuing CA's certificate names the root's CRL at `<url>/v1/crl/root`); None for a CA made
        before certificates carried it. Certificates the CA issues belong under this URL."""
        for point in self.issuing_certificate().crl_distribution_points:
            for name in point["distribution_point"].native or []:
                if isinstance(name, str) and name.endswith(_ROOT_CRL_PATH):
                    return name.removesuffix(_ROOT_CRL_PATH)
        return None

    def init(self, organisation: str = "Tillit", years: int = 10, *, public_url: str = DEFAULT_PUBLIC_URL) -> None:
        """Create the keys and certificates of the root, the issuing CA and the OCSP responder; the
        issuing CA's certificate points at the root's CRL and certificate under `public_url`, which
        must be the signer's public URL. Refused when a root certificate is already in the token."""
        if self.hsm.certificate(ROOT_LABEL) is not None:
            raise errors.HsmError("the CA is already initialised (`tillit-hsm ca show` prints it)")
        check_organisation(organisation)
        base = public_url.rstrip("/")
        now = now_seconds()
        for label in (ROOT_LABEL, ISSUING_LABEL, OCSP_LABEL):
            if not self.hsm.has_key(label):
                self.hsm.generate_key(label, Algorithm.EC_P256)
        root_name = organisation_name(f"{organisation} Root CA")
        root = self._certificate(
            subject=root_name,
            subject_label=ROOT_LABEL,
            issuer=root_name,
            issuer_label=ROOT_LABEL,
            not_after=now + timedelta(days=365 * years),
            extensions=ca_extensions(path_length=1),
        )
        self.hsm.store_certificate(ROOT_LABEL, root.dump())
        issuing = self._certificate(
            subject=organisation_name(f"{organisation} Issuing CA"),
            subject_label=ISSUING_LABEL,
            issuer=root_name,
            issuer_label=ROOT_LABEL,
            not_after=now + timedelta(days=365 * years - 1),
            extensions=[
                *ca_extensions(path_length=0),
                extension(
                    "crl_distribution_points",
                    [{"distribution_point": {"full_name": [uri(f"{base}{_ROOT_CRL_PATH}")]}}],
                ),
                extension(
                    "authority_information_access",
                    [{"access_method": "ca_issuers", "access_location": uri(f"{base}/v1/ca/root.cer")}],
                ),
            ],
        )
        self.hsm.store_certificate(ISSUING_LABEL, issuing.dump())
        self._cache.clear()
        self._issue_ocsp_certificate()
        self._cache.clear()
        self._remember_ledger()

    def renew(self, years: int) -> dict[str, x509.Certificate]:
        """Certify the root's and the issuing CA's keys again, to `years` from now, then the TSA's
        key and the OCSP responder's under them: the same names and the same keys, so every
        certificate, CRL, OCSP answer and timestamp made before chains to the new certificates as
        it did to the old, and an archive timestamp made after carries the chain to the new end
        (docs/signatures.md, "When the CA's certificates end"). The root's and the issuing CA's
        certificates keep their first start (notBefore), so the renewed root alone anchors
        everything made since `init`. The new certificates, by role ("root", "issuing", "tsa",
        "ocsp").

        All four are made before any is kept; the ledger learns the TSA's and the OCSP responder's,
        then the token stores them with the root last. A failure part way leaves the root as it was,
        so the same command runs again and finishes the renewal. Refused, changing nothing, when
        `years` is outside 1..`MAX_CA_YEARS`, the CA is not initialised, or it already lasts that long."""
        _check_years(years)
        old_root, old_issuing = self.root_certificate(), self.issuing_certificate()
        root_end = now_seconds() + timedelta(days=365 * years)
        if root_end <= old_root.not_valid_after:
            until = f"{old_root.not_valid_after:%Y-%m-%d}"
            raise errors.HsmError(f"the CA already lasts until {until}: give --years beyond that")
        root = self._certificate(
            subject=old_root.subject,
            subject_label=ROOT_LABEL,
            issuer=old_root.subject,
            issuer_label=ROOT_LABEL,
            not_after=root_end,
            extensions=ca_extensions(path_length=1),
            not_before=old_root.not_valid_before,
        )
        # The pointers to the root's CRL and certificate (if the CA was made with them) stay as
        # they were: the public URL cannot change (`init`).
        pointers = [e for e in old_issuing["tbs_certificate"]["extensions"] if e["extn_id"].native in _POINTERS]
        issuing = self._certificate(
            subject=old_issuing.subject,
            subject_label=ISSUING_LABEL,
            issuer=root.subject,
            issuer_label=ROOT_LABEL,
            not_after=root_end - timedelta(days=1),
            extensions=[*ca_extensions(path_length=0), *pointers],
            not_before=old_issuing.not_valid_before,
            issuer_until=root.not_valid_after,
        )
        tsa_label = self.tsa_label()
        if not self.hsm.has_key(tsa_label):  # a CA made before the TSA: its key, made here as on first use
            self.hsm.generate_key(tsa_label, Algorithm.EC_P256)
        made = {
            "root": root,
            "issuing": issuing,
            "tsa": self._timestamping_certificate(tsa_label, years, issuing),
            "ocsp": self._ocsp_certificate(issuing),
        }
        try:
            for role, label in (("tsa", tsa_label), ("ocsp", OCSP_LABEL)):
                self.ledger.add(made[role].serial_number, label, made[role])
        except Exception as e:  # whatever the ledger's database says: nothing is kept on the token
            raise errors.HsmError(f"the CA ledger did not take the new certificates ({e}); nothing was renewed") from e
        try:
            for role, label in (
                ("tsa", tsa_label),
                ("ocsp", OCSP_LABEL),
                ("issuing", ISSUING_LABEL),
                ("root", ROOT_LABEL),
            ):
                self.hsm.store_certificate(label, made[role].dump())
        finally:
            self._cache.clear()
        return made

    def _ocsp_certificate(self, issuing: x509.Certificate) -> x509.Certificate:
        """A certificate for the OCSP responder's key under `issuing`, living `OCSP_CERTIFICATE_LIFETIME`."""
        return self._certificate(
            subject=organisation_name("Tillit OCSP responder"),
            subject_label=OCSP_LABEL,
            issuer=issuing.subject,
            issuer_label=ISSUING_LABEL,
            not_after=now_seconds() + OCSP_CERTIFICATE_LIFETIME,
            extensions=[
                extension("basic_constraints", {"ca": False}, critical=True),
                extension("key_usage", x509.KeyUsage({"digital_signature"}), critical=True),
                extension("extended_key_usage", ["ocsp_signing"]),
                extension("ocsp_no_check", None),
            ],
            issuer_until=issuing.not_valid_after,
        )

    def _issue_ocsp_certificate(self) -> x509.Certificate:
        """A new certificate for the OCSP responder's key (`_ocsp_certificate`), in the token and the ledger."""
        ocsp_cert = self._ocsp_certificate(self.issuing_certificate())
        self.hsm.store_certificate(OCSP_LABEL, ocsp_cert.dump())
        self.ledger.add(ocsp_cert.serial_number, OCSP_LABEL, ocsp_cert)
        return ocsp_cert

    def issue_timestamping_certificate(self, key_label: str = TSA_LABEL, years: int = 10) -> x509.Certificate:
        """The RFC 3161 timestamp authority's certificate (`_timestamping_certificate`; its key made
        here when missing), stored on the token and in the ledger (so that OCSP answers for it)."""
        if not self.hsm.has_key(key_label):
            self.hsm.generate_key(key_label, Algorithm.EC_P256)
        cert = self._timestamping_certificate(key_label, years, self.issuing_certificate())
        self.hsm.store_certificate(key_label, cert.dump())
        self.ledger.add(cert.serial_number, key_label, cert)
        self._cache.pop(key_label, None)
        return cert

    def _timestamping_certificate(self, key_label: str, years: int, issuing: x509.Certificate) -> x509.Certificate:
        """A certificate for the TSA key `key_label` under `issuing`, with a critical
        extendedKeyUsage of timeStamping alone (RFC 3161 2.3), pointing like a customer's at the
        CRL, OCSP and the issuing CA's certificate (for a CA made with its public URL); it ends
        `years` from now less three days, and a day before the issuing CA at the latest."""
        # Never beyond the issuing CA: a timestamp is only as good as the chain above it.
        not_after = min(now_seconds() + timedelta(days=365 * years - 3), issuing.not_valid_after - timedelta(days=1))
        return self._certificate(
            subject=organisation_name("Tillit Timestamp Authority"),
            subject_label=key_label,
            issuer=issuing.subject,
            issuer_label=ISSUING_LABEL,
            not_after=not_after,
            extensions=[
                extension("basic_constraints", {"ca": False}, critical=True),
                extension("key_usage", x509.KeyUsage({"digital_signature", "non_repudiation"}), critical=True),
                extension("extended_key_usage", ["time_stamping"], critical=True),
                *(status_pointers(base) if (base := self.public_url) else []),
            ],
            issuer_until=issuing.not_valid_after,
        )

    # -- certificates --------------------------------------------------------------------------

    def _load(self, label: str) -> x509.Certificate:
        cert = self._cache.get(label)
        if cert is None:
            der = self.hsm.certificate(label)
            if der is None:
                raise errors.CaNotInitialised("the CA is not initialised (run `tillit-hsm ca init`)")
            cert = x509.Certificate.load(der)
            # asn1crypto parses on first access, and two threads parsing one object at once can
            # see it half built (a KeyError from a signing): these certificates are shared by every
            # signing and OCSP thread, so they are parsed whole before anyone else sees them.
            _ = cert.native
            self._cache[label] = cert
        return cert

    def root_certificate(self) -> x509.Certificate:
        return self._load(ROOT_LABEL)

    def issuing_certificate(self) -> x509.Certificate:
        return self._load(ISSUING_LABEL)

    def ocsp_certificate(self) -> x509.Certificate:
        """The OCSP responder's certificate, renewed first when it ends within
        `OCSP_CERTIFICATE_RENEWAL` (or outlives `OCSP_CERTIFICATE_LIFETIME`: made before responder
        certificates were short-lived). Daemons sharing the token may each renew it: every
        certificate made is valid for the same key, and the token keeps the last one stored."""
        cert = self._load(OCSP_LABEL)
        if not ocsp_certificate_renewal_due(cert, self.issuing_certificate()):
            return cert
        with self._renewal_lock:
            cert = self._load(OCSP_LABEL)  # another thread may have renewed it meanwhile
            if ocsp_certificate_renewal_due(cert, self.issuing_certificate()):
                cert = self._issue_ocsp_certificate()
                _ = cert.native  # parsed whole before other threads see it (see `_load`)
                self._cache[OCSP_LABEL] = cert
            return cert

    def renew_ocsp_certificate_if_due(self) -> bool:
        """At startup: renew the responder's certificate when due; True when it was."""
        before = self._load(OCSP_LABEL)
        return self.ocsp_certificate() is not before

    def tsa_label(self) -> str:
        """The label of the TSA key in use: `TSA_LABEL` until `rekey_tsa`, then the newest
        `tillit-tsa-N` that has a certificate in the token."""
        return _tsa_label(self._tsa_generation())

    def _tsa_generation(self) -> int:
        """1 for `TSA_LABEL`, N for `tillit-tsa-N`: the newest TSA key with a certificate."""
        generation = 1
        while self.hsm.certificate(_tsa_label(generation + 1)) is not None:
            generation += 1
        return generation

    def rekey_tsa(self, years: int) -> tuple[str, x509.Certificate]:
        """A new key for the timestamp authority (`tillit-tsa-N`, the next N) and its certificate for
        `years` (`issue_timestamping_certificate`: three days less, and within the issuing CA's life),
        which each signer stamps with from its next start. The old key stays in the token, unused:
        its timestamps need only its certificate, which stays in the ledger for OCSP. The new key's
        label and certificate. Refused, changing nothing, for `years` outside 1..`MAX_CA_YEARS` or a
        CA not initialised."""
        _check_years(years)
        self.issuing_certificate()  # CaNotInitialised before any key is made
        label = _tsa_label(self._tsa_generation() + 1)
        # A key left under that label by a re-keying that failed before its certificate is used now.
        return label, self.issue_timestamping_certificate(label, years)

    def certificates(self) -> dict[str, x509.Certificate | None]:
        """The CA's own certificates in the token by role ("root", "issuing", "tsa", "ocsp"); the
        TSA's is None before it is made (a CA from before the TSA, until the signer's first use)."""
        tsa = self.hsm.certificate(self.tsa_label())
        return {
            "root": self.root_certificate(),
            "issuing": self.issuing_certificate(),
            "tsa": x509.Certificate.load(tsa) if tsa is not None else None,
            "ocsp": self._load(OCSP_LABEL),
        }

    def chain(self) -> list[x509.Certificate]:
        """Issuing CA first, then the root."""
        return [self.issuing_certificate(), self.root_certificate()]

    def chain_pem(self) -> str:
        return "".join(pem.armor("CERTIFICATE", c.dump()).decode() for c in self.chain())

    def certificate_der(self, which: str) -> bytes:
        """The DER of the `root` or the `issuing` CA's certificate (KeyError for any other name)."""
        label = {"root": ROOT_LABEL, "issuing": ISSUING_LABEL}[which]
        return bytes(self._load(label).dump())

    def issue(
        self,
        key_label: str,
        common_name: str,
        person_id: str,
        base_url: str,
        days: int = 365 * 2,
    ) -> x509.Certificate:
        """Issue a customer's signing certificate for a key in the token, store it there and in the
        ledger. It fits EN 319 412-2 for a natural person under the NCP: the subject of
        `natural_person_name` (`person_id` is Tillit's persistent id of the customer, never the
        national identity number), certificatePolicies Tillit's policy and NCP, keyUsage
        nonRepudiation alone (NAT-4.3.2 type A: a key that commits to content does nothing else)."""
        issuing = self.issuing_certificate()
        base = base_url.rstrip("/")
        extensions = [
            extension("basic_constraints", {"ca": False}, critical=True),
            extension("key_usage", x509.KeyUsage({"non_repudiation"}), critical=True),
            extension(
                "certificate_policies",
                [{"policy_identifier": TILLIT_POLICY_OID}, {"policy_identifier": ETSI_NCP_OID}],
            ),
            *status_pointers(base),
            natural_person_semantics(base),
        ]
        cert = self._certificate(
            subject=natural_person_name(common_name, person_id),
            subject_label=key_label,
            issuer=issuing.subject,
            issuer_label=ISSUING_LABEL,
            not_after=now_seconds() + timedelta(days=days),
            extensions=extensions,
        )
        self.hsm.store_certificate(key_label, cert.dump())
        self.ledger.add(cert.serial_number, key_label, cert)
        return cert

    def issue_server_certificate(
        self, public_key_der: bytes, hostnames: list[str], days: int = 365, purpose: str = "server_auth"
    ) -> x509.Certificate:
        """A TLS server certificate for the daemon's own port; its key lives in a file, not the token.
        `purpose` "client_auth": a relying party's TLS client certificate, `hostnames` its one name.
        HsmError for a server certificate's name that is neither a DNS name nor an IP address, or a
        lifetime outside `check_server_days`; nothing is issued then."""
        names = []
        try:
            for host in hostnames if purpose == "server_auth" else []:
                names.append(server_name(host))
            if purpose == "server_auth" and not names:
                raise ValueError("a server certificate needs a host name or address")
            check_server_days(days, purpose)
        except ValueError as e:
            raise errors.HsmError(str(e)) from None
        alt_names = [x509.GeneralName(name=k, value=v) for n in names for k, v in n.items()]
        issuing = self.issuing_certificate()
        if now_seconds() + timedelta(days=days) > issuing.not_valid_after:
            until = f"{issuing.not_valid_after:%Y-%m-%d}"
            raise errors.HsmError(f"a certificate for {days} days would outlive the issuing CA's (until {until})")
        cert = self._certificate(
            subject=organisation_name(hostnames[0]),
            subject_label="",
            issuer=issuing.subject,
            issuer_label=ISSUING_LABEL,
            not_after=now_seconds() + timedelta(days=days),
            extensions=[
                extension("basic_constraints", {"ca": False}, critical=True),
                extension("key_usage", x509.KeyUsage({"digital_signature"}), critical=True),
                extension("extended_key_usage", [purpose]),
                *([extension("subject_alt_name", alt_names)] if alt_names else []),
            ],
            public_key_der=public_key_der,
        )
        self.ledger.add(cert.serial_number, f"{'tls' if purpose == 'server_auth' else 'rp'}:{hostnames[0]}", cert)
        return cert

    def _certificate(
        self,
        subject: x509.Name,
        subject_label: str,
        issuer: x509.Name,
        issuer_label: str,
        not_after: datetime,
        extensions: list[x509.Extension],
        public_key_der: bytes | None = None,
        not_before: datetime | None = None,
        issuer_until: datetime | None = None,
    ) -> x509.Certificate:
        """Build and sign a certificate; the subject key is the token's `subject_label` key unless
        `public_key_der` (SubjectPublicKeyInfo) gives one held elsewhere. It starts five minutes ago
        unless `not_before` says when, and ends by its issuer's end: `issuer_until`, else the end of
        the issuer's certificate in the token."""
        public_info = keys.PublicKeyInfo.load(
            public_key_der
            or self.hsm.public_key(subject_label).public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        identifiers = [extension("key_identifier", key_identifier(public_info))]
        if issuer_label != subject_label:
            # RFC 5280 6.1.3: nothing outlives its issuer's certificate.
            not_after = min(not_after, issuer_until or self._load(issuer_label).not_valid_after)
            issuer_info = keys.PublicKeyInfo.load(
                self.hsm.public_key(issuer_label).public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
            identifiers.append(extension("authority_key_identifier", {"key_identifier": key_identifier(issuer_info)}))
        extensions = [*identifiers, *extensions]
        algorithm = signature_algorithm(self.hsm.algorithm(issuer_label))
        tbs = x509.TbsCertificate(
            {
                "version": "v3",
                "serial_number": new_serial(),
                "signature": algorithm,
                "issuer": issuer,
                "validity": {
                    "not_before": certificate_time(not_before or now_seconds() - timedelta(minutes=5)),
                    "not_after": certificate_time(not_after),
                },
                "subject": subject,
                "subject_public_key_info": public_info,
                "extensions": extensions,
            }
        )
        signature = self.hsm.sign(issuer_label, tbs.dump())
        return x509.Certificate(
            {"tbs_certificate": tbs, "signature_algorithm": algorithm, "signature_value": signature}
        )

    # -- revocation ----------------------------------------------------------------------------

    def revoke(self, serial: int, reason: str = "unspecified") -> bool:
        """Revoke a certificate for a reason `revocation_reason` knows; False when it was already
        revoked. Unknown serials and reasons raise, changing nothing."""
        stored = REVOCATION_REASONS[revocation_reason(reason)]
        if self.ledger.get(serial) is None:
            raise errors.HsmError(f"no certificate with serial {serial:x} was issued by this CA")
        return self.ledger.revoke(serial, stored, now_seconds())

    def status(self, serial: int) -> IssuedCertificate | None:
        return self.ledger.get(serial)

    def crl(self, hours: int = 24) -> bytes:
        """A new CRL of the issuing CA (`CrlIssuer.issuing_crl`)."""
        return self.crls.issuing_crl(hours)

    def shared_crl(self, fresh_for: float) -> bytes:
        """The issuing CA's newest CRL made by any process on this ledger, or a new one
        (`CrlIssuer.shared_crl`)."""
        return self.crls.shared_crl(fresh_for)

    def root_crl(self) -> bytes:
        """The root's CRL (`CrlIssuer.root_crl`)."""
        return self.crls.root_crl()

    def ocsp_response(self, request_der: bytes, *, max_cert_ids: int = 10, reuse_for: float = 0.0) -> bytes:
        """The responder's answer to a DER request (`OcspResponder.response`)."""
        return self.ocsp.response(request_der, max_cert_ids=max_cert_ids, reuse_for=reuse_for)

    def ocsp_responses_for(self, certificates: list[x509.Certificate], *, reuse_for: float = 0.0) -> list[bytes]:
        """The responder's answers for certificates of ours (`OcspResponder.responses_for`)."""
        return self.ocsp.responses_for(certificates, reuse_for=reuse_for)
