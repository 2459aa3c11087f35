"""Everything PKCS#11: module loading, tokens, keys, signing, HMAC and the CA. Knows no customers."""

from hsm.client import Hsm, open_hsm
from hsm.errors import HsmError
from hsm.keys import Algorithm, KeyInfo
from hsm.settings import HsmSettings

__all__ = ["Algorithm", "Hsm", "HsmError", "HsmSettings", "KeyInfo", "open_hsm"]
