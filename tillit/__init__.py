"""Tillit: BankID-style identity and signing for bank branch offices, keys in a PKCS#11 HSM.

The four parts live in subpackages: ``tillit.hsm`` (everything PKCS#11), ``tillit.signer`` (the
daemon), ``tillit.kiosk`` (the branch terminal) and ``tillit.phone`` (the simulated BankID app).
They sit under one package so that installing Tillit never shadows, or is shadowed by, a
project's own ``hsm``, ``signer``, ``kiosk`` or ``phone`` package.
"""

import warnings

# pyHanko 0.38 imports cryptography's DSA key classes (to recognise DSA keys), which cryptography 51
# deprecates with a warning at that import. Tillit makes and accepts no DSA key; the warning would
# only reach the users' terminals and the daemon's JSON log, once per process.
warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"pyhanko(_certvalidator)?\.")
