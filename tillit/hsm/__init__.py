"""Everything PKCS#11: module loading, tokens, keys, signing, HMAC and the CA. Knows no customers."""

from tillit.hsm.client import Hsm, open_hsm
from tillit.hsm.errors import HsmError
from tillit.hsm.keys import Algorithm, KeyInfo
from tillit.hsm.settings import HsmSettings

__all__ = ["Algorithm", "Hsm", "HsmError", "HsmSettings", "KeyInfo", "open_hsm"]
